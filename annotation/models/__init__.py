from annotation.models.catalog import InterventionStrategy, Resource, RiskDomain, SystemPrompt
from annotation.models.corpus import Prompt, Response, Review
from annotation.models.modelruns import Adapter, GenerationRun, ModelCondition, RunState, TrainingRun

__all__ = [
    "Adapter",
    "GenerationRun",
    "InterventionStrategy",
    "ModelCondition",
    "Prompt",
    "Resource",
    "Response",
    "Review",
    "RiskDomain",
    "RunState",
    "SystemPrompt",
    "TrainingRun",
]
