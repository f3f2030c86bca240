"""Drive a sans-IO flow by hand: answer each step from a list and keep the steps it yielded."""

from collections.abc import Callable, Generator
from typing import Any

from dynamodb_sessions._core.flows import Call
from dynamodb_sessions._core.steps import Conflict, LockWait, Now


class Script:
    """Runs a flow; each reply is a value, or a function of the steps so far (for replies that
    depend on what the flow sent, such as the exact bytes it wrote).

    With ``clock``, a flow's :class:`Now` steps are answered with ``clock()`` and neither use a
    reply nor show in ``steps``; without it they are answered from the replies like any step.
    Events for the metrics hook (:class:`Conflict`, :class:`LockWait`) are kept in ``events``
    and answered ``None``, as the drivers do.
    """

    def __init__(
        self, flow: Generator[Any, Any, Any], clock: Callable[[], float] | None = None
    ) -> None:
        self.flow = flow
        self.clock = clock
        self.steps: list[Any] = []
        self.events: list[Conflict | LockWait] = []

    def run(self, *replies: Any) -> Any:
        answers = iter(replies)
        reply = None
        while True:
            try:
                step = self.flow.send(reply)
            except StopIteration as done:
                assert next(answers, None) is None, "flow ended before every reply was used"
                return done.value
            if self.clock is not None and isinstance(step, Now):
                reply = self.clock()
                continue
            if isinstance(step, (Conflict, LockWait)):
                self.events.append(step)
                reply = None
                continue
            self.steps.append(step)
            answer = next(answers)
            reply = answer(self.steps) if callable(answer) else answer

    @property
    def operations(self) -> list[str]:
        """The DynamoDB operations called, in order (sleeps left out)."""
        return [step.operation for step in self.steps if isinstance(step, Call)]
