"""Drive a sans-IO flow by hand: answer each step from a list and keep the steps it yielded."""

from collections.abc import Generator
from typing import Any

from dynamodb_sessions._core.flows import Call


class Script:
    """Runs a flow; each reply is a value, or a function of the steps so far (for replies that
    depend on what the flow sent, such as the exact bytes it wrote)."""

    def __init__(self, flow: Generator[Any, Any, Any]) -> None:
        self.flow = flow
        self.steps: list[Any] = []

    def run(self, *replies: Any) -> Any:
        answers = iter(replies)
        reply = None
        while True:
            try:
                step = self.flow.send(reply)
            except StopIteration as done:
                assert next(answers, None) is None, "flow ended before every reply was used"
                return done.value
            self.steps.append(step)
            answer = next(answers)
            reply = answer(self.steps) if callable(answer) else answer

    @property
    def operations(self) -> list[str]:
        """The DynamoDB operations called, in order (sleeps left out)."""
        return [step.operation for step in self.steps if isinstance(step, Call)]
