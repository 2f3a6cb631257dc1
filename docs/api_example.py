"""The worked example of docs/api.md: import pairs, build splits, run the retraining cycle, print results.

    STUDIO_URL=http://127.0.0.1:8000 STUDIO_TOKEN=pss_... python docs/api_example.py pairs.jsonl

Needs only httpx and an admin's API token (create one under "API tokens" in the Studio's header).
"""

import os
import sys
import time

import httpx

BASE = os.environ.get("STUDIO_URL", "http://127.0.0.1:8000").rstrip("/") + "/api/v1"
POLL_SECONDS = 5


def check(response: httpx.Response) -> dict:
    """The JSON body, or exit with the problem's detail and field errors."""
    if response.is_success:
        return response.json()
    problem = response.json()
    print(f"{response.status_code} {problem['title']}: {problem['detail']}", file=sys.stderr)
    for error in problem.get("errors", []):
        where = f"line {error['line']}, " if error["line"] is not None else ""
        print(f"  {where}{error['field']}: {error['message']}", file=sys.stderr)
    sys.exit(1)


def wait(api: httpx.Client, url: str, finished, describe) -> dict:
    while True:
        body = check(api.get(url))
        print("  " + describe(body))
        if finished(body):
            return body
        time.sleep(POLL_SECONDS)


def describe_cycle(cycle: dict) -> str:
    """The cycle's state and stage, with its running jobs' progress."""
    jobs = [job for stage in cycle["stages"] if stage["key"] == cycle["stage"] for job in stage["jobs"]]
    progress = ", ".join(f"{job['name']} {job['state_label'].lower()} {job['percent']}%" for job in jobs)
    return f"{cycle['state']} · {cycle['stage']}" + (f" ({progress})" if progress else "")


def main(path: str, file_format: str = "psychosafe") -> None:
    headers = {"Authorization": f"Bearer {os.environ['STUDIO_TOKEN']}"}
    with httpx.Client(base_url=BASE, headers=headers, timeout=60) as api:
        # 1. Import: all or nothing, as a background job.
        with open(path, "rb") as upload:
            job = check(api.post("/imports/", files={"file": upload}, data={"format": file_format}))
        print(f"Importing {path}:")
        job = wait(
            api,
            f"/imports/{job['job']['id'].split('-')[1]}/",
            lambda body: body["job"]["finished"],
            lambda body: f"{body['job']['state_label']} {body['job']['percent']}%",
        )
        if job["errors"]:
            for error in job["errors"]:
                print(f"  line {error['line']}, {error['field']}: {error['message']}", file=sys.stderr)
            sys.exit("Nothing was imported.")
        print(f"  imported: {job['summary']}")

        # 2. Splits: seeded, per domain; the leakage check comes with them.
        splits = check(api.post("/splits/", json={"seed": 42, "per_domain": 3}))
        for domain, counts in splits["counts"].items():
            print(f"  {domain}: {counts}")
        print(f"  leakage findings: {len(splits['findings'])}")

        # 3. The retraining cycle: train, generate, judge, build the next round (the Retrain page's defaults).
        cycle = check(api.post("/cycles/", json={"name": f"API cycle {time.strftime('%Y%m%d-%H%M%S')}"}))
        print(f"Cycle {cycle['name']}:")
        cycle = wait(
            api,
            f"/cycles/{cycle['id']}/",
            lambda body: body["finished"],
            describe_cycle,
        )
        if cycle["state"] != "succeeded":
            sys.exit(f"The cycle {cycle['state']}: {cycle['error']}")

        # 4. Results: the judges' scores per condition and criterion, with 95% intervals.
        results = check(api.get(f"/rounds/{cycle['round']}/results/"))
        for source in results["sources"]:
            print(f"\n{source['label']}")
            print(f"{'condition':56} {'criterion':28} {'estimate':>8}  95% interval")
            for row in source["summaries"]:
                if row["domain"] != "(all)":
                    continue
                interval = f"[{row['ci_low']:.2f}, {row['ci_high']:.2f}]" if row["ci_low"] is not None else ""
                print(f"{row['condition'][:56]:56} {row['criterion'][:28]:28} {row['estimate']:8.2f}  {interval}")


if __name__ == "__main__":
    main(*sys.argv[1:])
