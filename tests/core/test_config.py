import pytest

from dynamodb_sessions import ConfigurationError, Connection, CookieSettings, StoreConfig
from dynamodb_sessions.config import is_enabled

FULL_ENV = {
    "AWS_DYNAMODB_SESSION_TABLE": "sessions",
    "AWS_REGION_NAME": "eu-west-1",
    "AWS_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000",
    "AWS_ACCESS_KEY": "AKIDEXAMPLE",
    "AWS_SECRET_KEY": "secret",
    "AWS_DYNAMODB_SESSION_LIFETIME": "7200",
}


def test_the_php_modules_names():
    config = StoreConfig.from_env(FULL_ENV, timeout=3600)
    assert config.table == "sessions"
    assert config.gc_lifetime == 7200
    assert config.connection == Connection(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:8000",
        access_key="AKIDEXAMPLE",
        secret_key="secret",
    )


def test_standard_aws_names_are_fallbacks():
    env = {
        "AWS_DYNAMODB_SESSION_TABLE": "s",
        "AWS_REGION": "us-west-2",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:1",
    }
    connection = StoreConfig.from_env(env).connection
    assert (connection.region, connection.endpoint_url) == ("us-west-2", "http://127.0.0.1:1")
    assert (
        StoreConfig.from_env(
            {**env, "AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-1"}
        ).connection.region
        == "ap-south-1"
    )
    # The module's own name wins over the standard one.
    assert (
        StoreConfig.from_env({**env, "AWS_REGION_NAME": "eu-north-1"}).connection.region
        == "eu-north-1"
    )


def test_without_keys_botocores_chain_is_used():
    connection = StoreConfig.from_env({"AWS_DYNAMODB_SESSION_TABLE": "s"}).connection
    assert connection.access_key is None and connection.secret_key is None


def test_keywords_override_the_environment():
    config = StoreConfig.from_env(
        FULL_ENV, table="other", region="us-east-1", read_timeout=5.0, timeout=60
    )
    assert config.table == "other"
    assert config.connection.region == "us-east-1"
    assert config.connection.read_timeout == 5.0


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "AWS_DYNAMODB_SESSION_TABLE"),
        ({**FULL_ENV, "AWS_SECRET_KEY": ""}, "AWS_SECRET_KEY"),
        ({**FULL_ENV, "AWS_DYNAMODB_SESSION_LIFETIME": "soon"}, "AWS_DYNAMODB_SESSION_LIFETIME"),
        ({**FULL_ENV, "AWS_DYNAMODB_SESSION_LIFETIME": "-5"}, "AWS_DYNAMODB_SESSION_LIFETIME"),
        ({**FULL_ENV, "AWS_DYNAMODB_SESSION_LIFETIME": "60"}, "AWS_DYNAMODB_SESSION_LIFETIME"),
    ],
)
def test_bad_values_name_the_variable(env, named):
    with pytest.raises(ConfigurationError, match=named):
        StoreConfig.from_env(env, timeout=3600)


def test_gc_lifetime_defaults_to_the_timeout():
    assert StoreConfig(table="t", timeout=60).effective_gc_lifetime == 60


@pytest.mark.parametrize(
    "changes",
    [
        {"timeout": 0},
        {"touch_after": 1.5},
        {"absolute_timeout": 0},
        {"max_item_bytes": 10**9},
        {"table": ""},
    ],
)
def test_constructor_validates(changes):
    with pytest.raises(ConfigurationError):
        StoreConfig(**{"table": "t", **changes})


def test_configuration_errors_are_value_errors():
    with pytest.raises(ValueError, match="timeout"):
        Connection(connect_timeout=0)


def test_enabled_by_the_table_name():
    assert is_enabled({"AWS_DYNAMODB_SESSION_TABLE": "s"})
    assert not is_enabled({})


def test_samesite_none_needs_secure():
    with pytest.raises(ConfigurationError):
        CookieSettings(samesite="none")


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"name": "__Host-sid", "secure": True, "domain": "example.org"}, "must not have a domain"),
        ({"name": "__Host-sid", "secure": True, "path": "/app"}, "must have the path /"),
        ({"name": "__Host-sid"}, "must be Secure"),
        ({"name": "__host-sid", "secure": True, "domain": "a.b"}, "must not have a domain"),
        ({"name": "__Secure-sid"}, "must be Secure"),
        ({"name": "__SECURE-sid"}, "must be Secure"),
        ({"partitioned": True}, "Partitioned cookies must be Secure"),
        ({"samesite": "sometimes"}, "SameSite must be"),
    ],
)
def test_cookies_browsers_refuse_are_refused_at_construction(settings, problem):
    with pytest.raises(ConfigurationError, match=problem):
        CookieSettings(**settings)


def test_every_problem_is_named_at_once():
    with pytest.raises(ConfigurationError) as refused:
        CookieSettings(name="__Host-sid", path="/app", domain="example.org")
    message = str(refused.value)
    assert "Secure" in message and "path" in message and "domain" in message


def test_cookies_browsers_accept_are_accepted():
    CookieSettings(name="__Host-sid", secure=True)
    CookieSettings(name="__Secure-sid", secure=True, domain="example.org", path="/app")
    CookieSettings(secure=True, samesite="none", partitioned=True)
    CookieSettings(name="Host-sid", domain="example.org")  # no prefix: no rule
