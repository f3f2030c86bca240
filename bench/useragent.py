"""The fixed ``User-Agent``, alone: the client process's CPU time per GetItem against dynalite,
with the stores' client configuration as it is (a fixed ``User-Agent``) and with botocore's own
(rebuilt twice per call), in one process, rounds alternating which goes first.

    .venv/bin/python -m bench.useragent [--rounds 9] [--n 300]
"""

from __future__ import annotations

import argparse
import time

from bench._common import connection, dynalite, median, new_table
from dynamodb_sessions.store import client_arguments, client_config


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.useragent", description=__doc__)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    import botocore.session

    with dynalite() as endpoint:
        cfg = new_table(endpoint, "ua")
        link = connection(endpoint)
        fixed = client_config(link)
        botocores = fixed.merge(botocore.config.Config())
        botocores.user_agent = None  # botocore's own, built per call
        session = botocore.session.get_session()
        clients = {
            name: session.create_client("dynamodb", config=config, **client_arguments(link))
            for name, config in (("fixed", fixed), ("botocore's", botocores))
        }
        key = {"id": {"S": "x"}}
        cpu: dict[str, list[float]] = {name: [] for name in clients}
        for client in clients.values():
            for _ in range(20):
                client.get_item(TableName=cfg.table, Key=key, ConsistentRead=True)
        for round_ in range(args.rounds):
            names = list(clients) if round_ % 2 == 0 else list(reversed(clients))
            for name in names:
                start = time.process_time()
                for _ in range(args.n):
                    clients[name].get_item(TableName=cfg.table, Key=key, ConsistentRead=True)
                cpu[name].append(1e6 * (time.process_time() - start) / args.n)
        agents = {name: client._user_agent_creator.to_string() for name, client in clients.items()}
    for name, values in cpu.items():
        print(f"{name:11s} {median(values):6.0f} us CPU per GetItem  ({agents[name]})")
    ratios = [a / b for a, b in zip(cpu["botocore's"], cpu["fixed"], strict=True)]
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"botocore's / fixed: {median(ratios):.2f} (rounds: {rounds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
