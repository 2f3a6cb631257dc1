from annotation.models.catalog import InterventionStrategy, Resource, RiskDomain, SystemPrompt
from annotation.models.corpus import Prompt, Response, Review
from annotation.models.jobs import Job, JobState
from annotation.models.modelruns import Adapter, GenerationRun, ModelCondition, TrainingRun

__all__ = [
    "Adapter",
    "GenerationRun",
    "InterventionStrategy",
    "Job",
    "JobState",
    "ModelCondition",
    "Prompt",
    "Resource",
    "Response",
    "Review",
    "RiskDomain",
    "SystemPrompt",
    "TrainingRun",
]
from annotation.models.rating import (  # noqa: E402
    Criterion,
    Flag,
    GoldItem,
    Option,
    RaterPreference,
    Rating,
    Round,
    RoundItem,
    RoundRater,
    Rubric,
    Skip,
    Slot,
)

__all__ += [
    "Criterion",
    "Flag",
    "GoldItem",
    "Option",
    "RaterPreference",
    "Rating",
    "Round",
    "RoundItem",
    "RoundRater",
    "Rubric",
    "Skip",
    "Slot",
]
from annotation.models.transfer import ImportJob  # noqa: E402

__all__ += ["ImportJob"]
from annotation.models.judging import Judge, JudgeRun, Verdict  # noqa: E402
from annotation.models.pipelines import Pipeline, PromotionDecision  # noqa: E402

__all__ += ["Judge", "JudgeRun", "Pipeline", "PromotionDecision", "Verdict"]
from annotation.models.workers import WorkerHeartbeat  # noqa: E402

__all__ += ["WorkerHeartbeat"]
from annotation.models.splits import SplitBuild  # noqa: E402

__all__ += ["SplitBuild"]
from annotation.models import accounts  # noqa: E402, F401 - audits users and groups
from annotation.models.audit import AuditedQuerySet, UnauditedUpdate  # noqa: E402
from annotation.models.corpus import PromptInUse  # noqa: E402

__all__ += ["AuditedQuerySet", "PromptInUse", "UnauditedUpdate"]
from annotation.models.notifications import Notification, NotificationPreference  # noqa: E402

__all__ += ["Notification", "NotificationPreference"]
from annotation.models.benchmarks import (  # noqa: E402
    AuditItem,
    BenchmarkClassification,
    BenchmarkLabel,
    BenchmarkRun,
)
from annotation.models.figures import RoundFigures  # noqa: E402

__all__ += ["AuditItem", "BenchmarkClassification", "BenchmarkLabel", "BenchmarkRun", "RoundFigures"]
from annotation.models.api import ApiToken  # noqa: E402

__all__ += ["ApiToken"]
