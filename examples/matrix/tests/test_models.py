"""Per-model tests: the `[model-...]` id is the batch key, so one model's tests share a shard."""

import pytest

MODELS = {"llama": 32, "bert": 12, "resnet": 50}


@pytest.mark.parametrize("model,dtype", [(m, d) for m in MODELS for d in ("fp32", "bf16")],
                         ids=lambda v: v)
def test_forward(model, dtype):
    assert MODELS[model] > 0 and dtype in {"fp32", "bf16"}


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: f"{m}-train")
def test_backward(model):
    assert MODELS[model] % 1 == 0
