"""Tests of the local cluster itself: Tekton's own controller running hand-written Pipelines (the behaviour
progressive's compiled Pipelines rely on) and the executor that plays kubelet for TaskRun pods."""
