"""The order of a Pipeline's ``tasks``: ``runAfter`` plus ``$(tasks.X.results.Y)`` references.

As ``PipelineTask.Deps`` in tektoncd/pipeline: a task depends on every task it names in ``runAfter``
and on every task whose results its params or ``when`` expressions use. A dependency on a name that is
not a DAG task, or a cycle, is what Tekton reports as ``PipelineInvalidGraph``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from tests.support.tekton.errors import TektonRejection
from tests.support.tekton.spec import PipelineTask
from tests.support.tekton.variables import references

__all__ = ["result_references", "task_graph"]

_RESULT = re.compile(r"^tasks\.([^.]+)\.results\.(.+)$")


def result_references(task: PipelineTask) -> list[tuple[str, str]]:
    """``(task, result)`` pairs this pipeline task reads, from its params and ``when`` expressions."""
    texts = [value for _, value in task.params]
    for expression in task.when:
        texts.append(expression.input)
        texts.extend(expression.values)
    out: list[tuple[str, str]] = []
    for text in texts:
        for key in references(text):
            match = _RESULT.match(key)
            if match and (match.group(1), match.group(2)) not in out:
                out.append((match.group(1), match.group(2)))
    return out


def task_graph(tasks: Sequence[PipelineTask], pipeline: str) -> Mapping[str, tuple[str, ...]]:
    """Parents of each DAG task, in declaration order; refuses unknown names and cycles like Tekton."""
    names = [task.name for task in tasks]
    parents: dict[str, tuple[str, ...]] = {}
    for task in tasks:
        deps: list[str] = []
        for name in (*task.run_after, *(producer for producer, _ in result_references(task))):
            if name not in names:
                raise TektonRejection(
                    "PipelineInvalidGraph",
                    f"Pipeline {pipeline} can't be Run; it has an invalid graph: "
                    f"task {task.name} depends on {name} but {name} wasn't present in Pipeline",
                )
            if name not in deps:
                deps.append(name)
        parents[task.name] = tuple(deps)
    _check_acyclic(parents, pipeline)
    return parents


def _check_acyclic(parents: Mapping[str, tuple[str, ...]], pipeline: str) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise TektonRejection(
                "PipelineInvalidGraph",
                f"Pipeline {pipeline} can't be Run; it has an invalid graph: cycle detected: {cycle}",
            )
        state[name] = 1
        for parent in parents[name]:
            visit(parent, [*path, name])
        state[name] = 2

    for name in parents:
        visit(name, [])
