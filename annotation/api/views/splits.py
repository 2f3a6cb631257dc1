"""Splits: build them (seeded, sizes per domain) and read the leakage report."""

import dataclasses

from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response as ApiResponse

from annotation import roles, splits
from annotation.api.base import StudioView, shape

FindingOut = shape(
    "LeakageFinding",
    {
        "kind": serializers.CharField(),
        "split": serializers.CharField(),
        "prompt_id": serializers.IntegerField(),
        "other_prompt_id": serializers.IntegerField(allow_null=True),
        "detail": serializers.CharField(),
    },
)
SplitsOut = shape(
    "SplitsOut",
    {
        "counts": serializers.DictField(child=serializers.DictField(child=serializers.IntegerField())),
        "findings": FindingOut(many=True),
    },
)
BuiltOut = shape(
    "SplitsBuilt",
    {
        "seed": serializers.IntegerField(),
        "per_domain": serializers.IntegerField(),
        "dry_run": serializers.BooleanField(),
        "counts": serializers.DictField(child=serializers.DictField(child=serializers.IntegerField())),
        "forced_train": serializers.ListField(child=serializers.IntegerField()),
        "shortfalls": serializers.ListField(child=serializers.CharField()),
        "findings": FindingOut(many=True),
        "report": serializers.ListField(child=serializers.CharField()),
    },
)


class SplitsIn(serializers.Serializer):
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=42)
    per_domain = serializers.IntegerField(min_value=1, max_value=100_000, default=100)
    few_shot_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), default=list, max_length=1000)
    dry_run = serializers.BooleanField(default=False)


class Splits(StudioView):
    roles = (roles.ADMIN,)

    @extend_schema(responses=SplitsOut, operation_id="splits_read")
    def get(self, request):
        report = splits.current_split_report()
        return ApiResponse(
            {"counts": report["counts"], "findings": [dataclasses.asdict(f) for f in report["findings"]]}
        )

    @extend_schema(request=SplitsIn, responses=BuiltOut, operation_id="splits_build")
    def post(self, request):
        body = SplitsIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            report = splits.make_splits(
                seed=data["seed"],
                per_domain=data["per_domain"],
                few_shot_ids=data["few_shot_ids"],
                dry_run=data["dry_run"],
                user=request.user,
            )
        return ApiResponse(
            {
                "seed": report.seed,
                "per_domain": report.per_domain,
                "dry_run": data["dry_run"],
                "counts": report.counts,
                "forced_train": report.forced_train,
                "shortfalls": [str(x) for x in report.shortfalls],
                "findings": [dataclasses.asdict(f) for f in report.findings],
                "report": report.lines(),
            }
        )
