"""Fixtures for the modeling tests: a tiny random Qwen3 chat model built once per session."""

from __future__ import annotations

import os

import pytest

# Nothing in the tests may reach the Hugging Face hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A folder holding a tiny random Qwen3ForCausalLM, its tokenizer and chat template."""
    from modeling.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"), seed=0)


def pytest_configure(config):
    config.addinivalue_line("markers", "demo_model: converts/loads the SmolLM2 demo model (about a minute on CPU)")


@pytest.fixture(scope="session")
def demo_model_dir(tmp_path_factory):
    """The converted demo model: the project's var/ copy when complete, else a fresh one."""
    from modeling.demo_model import DEFAULT_DEST, DemoModelUnavailable, ensure_demo_model, is_complete

    if is_complete(DEFAULT_DEST):
        return DEFAULT_DEST
    try:
        return ensure_demo_model(tmp_path_factory.mktemp("demo") / "smollm2-135m-instruct")
    except DemoModelUnavailable as error:
        pytest.skip(str(error))
