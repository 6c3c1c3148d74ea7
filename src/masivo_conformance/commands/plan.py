"""Print a profile's request plan: each deterministic scenario, the requirements it
judges and the requests it costs, the total, what exploration adds, and any requirement
no scenario judges.

Costs are requests against the embedded reference server; a target whose effects land
late costs a few more polls. A DEV account allows 1,000 requests a day: `budget` judges
every requirement in at most 300.

exit codes:
  0  every requirement of the catalogue is judged by a scenario of the plan (or, for
     quick, ci and deep, by the plan or by exploration)
  1  the budget plan leaves a requirement unjudged
"""

from __future__ import annotations

import argparse

from masivo_conformance.contract.catalogue import catalogue
from masivo_conformance.suite import profiles, run_plan

HELP = "print a profile's request plan: scenarios, requirements judged, request cost"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        choices=profiles.NAMES,
        default=run_plan.DEFAULT_PROFILE,
        help=f"the profile whose plan to print (default {run_plan.DEFAULT_PROFILE}, the profile "
        "`run` uses when none is given; `run --max-requests N` below "
        f"{run_plan.DEV_DAILY_REQUESTS} picks budget)",
    )


def execute(args: argparse.Namespace) -> int:
    chosen = run_plan.plan_for(args.profile)
    ids = [r.id for r in catalogue()]
    width = max(len(s.test) for s in chosen.scenarios)
    default = "the default of `run`; " if args.profile == run_plan.DEFAULT_PROFILE else ""
    print(
        f"plan of profile {args.profile} ({default}--profile budget|quick|ci|deep for another), "
        "in requests on the embedded reference server"
    )
    print(f"{'scenario':<{width}}  requests  judges")
    session = "authorize (once per run: the token every call carries)"
    print(f"{session:<{width}}  {run_plan.SESSION_COST:>8}  -")
    for scenario in chosen.scenarios:
        cost = str(scenario.cost) + (f"+{scenario.fixtures}" if scenario.fixtures else "")
        print(f"{scenario.test:<{width}}  {cost:>8}  {', '.join(scenario.judges)}")
    print(f"deterministic part: {chosen.deterministic} requests")
    if chosen.exploration:
        print(
            f"exploration (fuzzing, state machines): ~{chosen.exploration} requests "
            f"(estimate); total ~{chosen.total}"
        )
    else:
        print(
            f"no exploration; total {chosen.total} (at most {run_plan.BUDGET_LIMIT} on any target)"
        )
    print(
        "a target whose effects land late adds settling polls (up to "
        f"~{run_plan.SLACK} on the variant server); a remote target adds 2 preflight requests"
    )
    unjudged = chosen.unjudged(ids)
    if not unjudged:
        print(f"every requirement of the catalogue ({len(ids)}) is judged by a scenario")
        return 0
    print(f"judged by no scenario: {', '.join(unjudged)}")
    return 1 if args.profile == "budget" else 0
