#!/usr/bin/env python3
"""Kinbridge against PostGraphile 5 and raw SQL, on one generated data set, in one run.

Called by bench/run, which installs what this needs and starts the PostgreSQL cluster.
Everything here is measured, nothing asserted: the report prints figures.

Workloads (each request varies its ids and its request id):
  (a) one family: members, placements with their 5 latest visits, plans with goals
  (b) a caseworker's page of 50 such families, with totalCount
  (c) the residence municipality's coordination query: placements of children whose
      parents live here, placed by another municipality
  (d) a mutation mix: plan a contact visit, record a visit held, record a plan review

Servers: Kinbridge (release) on PostgreSQL, Kinbridge on SQLite, PostGraphile 5 on the
same PostgreSQL rows (its own schema inference over the tables, and one view for (c)).
The raw-SQL limit is pgbench running the statements a hand-written client would send.
One load generator (wrk) drives every server at each concurrency.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import cpu_profile

HERE = Path(__file__).resolve().parent

KB_A = """query($id: ID!) { family(id: $id) { name
  members { edges { node { role person { givenName } } } }
  placements { edges { node { setting contactVisits(last: 5) { edges { node { plannedStart status } } } } } }
  parentActionPlans { edges { node { status goals { edges { node { description } } } } } } } }"""

KB_B = """{ families(first: 50) { totalCount edges { node { name
  members { edges { node { role person { givenName } } } }
  placements { edges { node { setting contactVisits(last: 5) { edges { node { plannedStart status } } } } } }
  parentActionPlans { edges { node { status goals { edges { node { description } } } } } } } } } }"""

KB_C = """{ crossMunicipalityPlacements(first: 50) { totalCount edges { node { id setting startDate
  child { givenName } placingMunicipality { name } caseworkerContact planStatus nextReviewDue } } } }"""

KB_PLAN = """mutation($i: PlanContactVisitInput!) { planContactVisit(input: $i) { contactVisit { id status } } }"""
KB_HELD = """mutation($i: RecordContactVisitHeldInput!) { recordContactVisitHeld(input: $i) { contactVisit { id status } } }"""
KB_REVIEW = """mutation($i: RecordPlanReviewInput!) { recordPlanReview(input: $i) { review { id } } }"""

PGL_FAMILY = """name
  familyMembersByFamilyId(orderBy: PRIMARY_KEY_ASC) { nodes { role personByPersonId { givenName } } }
  placementsByFamilyId(orderBy: PRIMARY_KEY_ASC) { nodes { setting
    contactVisitsByPlacementId(first: 5, orderBy: [PLANNED_START_DESC, PRIMARY_KEY_DESC]) { nodes { plannedStart status } } } }
  parentActionPlansByFamilyId(orderBy: PRIMARY_KEY_ASC) { nodes { status planGoalsByPlanId(orderBy: POSITION_ASC) { nodes { description } } } }"""
PGL_A = "query($id: UUID!) { familyByRowId(rowId: $id) { " + PGL_FAMILY + " } }"
PGL_B = ("query($org: UUID!) { allFamilies(first: 50, condition: {organizationId: $org}, orderBy: PRIMARY_KEY_ASC) "
         "{ totalCount nodes { " + PGL_FAMILY + " } } }")
PGL_C = ("query($org: UUID!) { allBenchCoordinations(first: 50, condition: {residenceMunicipalityId: $org}) "
         "{ totalCount nodes { placementId setting startDate childGivenName placingMunicipalityName caseworkerContact planStatus nextReviewDue } } }")
PGL_PLAN = "mutation($v: ContactVisitInput!) { createContactVisit(input: {contactVisit: $v}) { contactVisit { rowId status } } }"
PGL_HELD = ("mutation($id: UUID!, $at: Datetime!) { updateContactVisitByRowId(input: {rowId: $id, contactVisitPatch: "
            "{status: \"HELD\", outcomeRecordedAt: $at, updatedAt: $at}}) { contactVisit { rowId status } } }")
# A supported visit needs its supervisor (the guidance's rule): every plan names one.
SUPERVISOR = "Kari Nordmann"
PGL_REVIEW = "mutation($r: PlanReviewInput!) { createPlanReview(input: {planReview: $r}) { planReview { rowId } } }"

# The view PostGraphile serves (c) from: what Kinbridge's coordination query shows.
COORDINATION_VIEW = """
CREATE OR REPLACE VIEW bench_coordination AS
SELECT DISTINCT ON (p.id, m.residence_municipality_id)
       m.residence_municipality_id, p.id AS placement_id, p.setting, p.start_date,
       child.given_name AS child_given_name, placer.name AS placing_municipality_name,
       f.caseworker_contact, plan.status AS plan_status, plan.next_review_due
  FROM placements p
  JOIN families f ON f.id = p.family_id
  JOIN family_members m ON m.family_id = f.id AND m.role IN ('PARENT', 'PRIMARY_CAREGIVER', 'OTHER_PARENT')
  JOIN persons child ON child.id = p.child_id
  JOIN organizations placer ON placer.id = p.organization_id
  LEFT JOIN parent_action_plans plan ON plan.placement_id = p.id
 WHERE m.residence_municipality_id IS NOT NULL AND m.residence_municipality_id <> p.organization_id
   AND p.end_date IS NULL
 ORDER BY p.id, m.residence_municipality_id;
"""

# The raw-SQL limit: what a hand-written client sends for the same reads and writes.
PGBENCH = {
    "a": """\\set n random(1, :families)
BEGIN;
SELECT id, name FROM families WHERE id = (SELECT id FROM bench_families WHERE n = :n);
SELECT m.family_id, p.given_name, m.role FROM family_members m JOIN persons p ON p.id = m.person_id
 WHERE m.family_id = (SELECT id FROM bench_families WHERE n = :n);
SELECT p.family_id, p.id, p.setting, v.planned_start, v.status FROM placements p
  LEFT JOIN LATERAL (SELECT planned_start, status FROM contact_visits cv WHERE cv.placement_id = p.id
                     ORDER BY planned_start DESC LIMIT 5) v ON true
 WHERE p.family_id = (SELECT id FROM bench_families WHERE n = :n);
SELECT pl.family_id, pl.status, g.description FROM parent_action_plans pl LEFT JOIN plan_goals g ON g.plan_id = pl.id
 WHERE pl.family_id = (SELECT id FROM bench_families WHERE n = :n);
COMMIT;
""",
    "b": """\\set m random(1, :municipalities)
BEGIN;
SELECT count(*) FROM families WHERE organization_id = (SELECT id FROM bench_municipalities WHERE n = :m);
SELECT id, name FROM families WHERE organization_id = (SELECT id FROM bench_municipalities WHERE n = :m) ORDER BY id LIMIT 50;
SELECT m.family_id, p.given_name, m.role FROM family_members m JOIN persons p ON p.id = m.person_id
 WHERE m.family_id IN (SELECT id FROM families WHERE organization_id = (SELECT id FROM bench_municipalities WHERE n = :m) ORDER BY id LIMIT 50);
SELECT p.family_id, p.id, p.setting, v.planned_start, v.status FROM placements p
  LEFT JOIN LATERAL (SELECT planned_start, status FROM contact_visits cv WHERE cv.placement_id = p.id
                     ORDER BY planned_start DESC LIMIT 5) v ON true
 WHERE p.family_id IN (SELECT id FROM families WHERE organization_id = (SELECT id FROM bench_municipalities WHERE n = :m) ORDER BY id LIMIT 50);
SELECT pl.family_id, pl.status, g.description FROM parent_action_plans pl LEFT JOIN plan_goals g ON g.plan_id = pl.id
 WHERE pl.family_id IN (SELECT id FROM families WHERE organization_id = (SELECT id FROM bench_municipalities WHERE n = :m) ORDER BY id LIMIT 50);
COMMIT;
""",
    "c": """\\set m random(1, :municipalities)
BEGIN;
SELECT count(*) FROM bench_coordination WHERE residence_municipality_id = (SELECT id FROM bench_municipalities WHERE n = :m);
SELECT * FROM bench_coordination WHERE residence_municipality_id = (SELECT id FROM bench_municipalities WHERE n = :m) LIMIT 50;
COMMIT;
""",
    "d": """\\set n random(1, :placements)
BEGIN;
INSERT INTO contact_visits (id, organization_id, created_at, updated_at, version, placement_id, planned_start, planned_end,
  supervision, supervisor_name, status)
SELECT gen_random_uuid(), organization_id, now(), now(), 1, id, now() + interval '1 day', now() + interval '1 day 2 hours',
  'SUPPORTED', 'Kari Nordmann', 'PLANNED' FROM bench_placements WHERE n = :n;
INSERT INTO audit_events (id, occurred_at, request_id, subject, organization_id, roles, operation, record_type, record_id)
SELECT gen_random_uuid(), now(), 'pgbench', 'pgbench', organization_id, 'CASEWORKER', 'planContactVisit', 'ContactVisit', id
  FROM bench_placements WHERE n = :n;
INSERT INTO outbox (occurred_at, organization_id, aggregate_type, aggregate_id, event_type, payload)
SELECT now(), organization_id, 'ContactVisit', id, 'contact_visit.planned', '{}' FROM bench_placements WHERE n = :n;
INSERT INTO idempotency_keys (organization_id, key, operation, request_hash, record_id, created_at)
SELECT organization_id, gen_random_uuid()::text, 'planContactVisit', 'x', id, now() FROM bench_placements WHERE n = :n;
COMMIT;
""",
}

WORKLOADS = {
    "a": "(a) one family, nested",
    "b": "(b) a caseworker's page of 50 families",
    "c": "(c) coordination query of the residence municipality",
    "d": "(d) mutation mix",
}


def log(message):
    print(f"==> {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql, *extra):
    out = subprocess.run(["psql", url, "-qAtX", "-v", "ON_ERROR_STOP=1", *extra, "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"psql failed: {out.stderr.strip()}\n{sql[:300]}")
    return out.stdout.strip()


def wait_for(url, process, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server exited early with {process.returncode}")
        try:
            body = json.dumps({"query": "{ __typename }"}).encode()
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=2).read()
            return
        except urllib.error.HTTPError:
            return  # it answers (401 without a token is an answer)
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds} s")


def peak_rss_mib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command's closing parenthesis (state, ppid,
    ..., utime as the 12th, stime, cutime, cstime); None if the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def process_cpu_s(pid, reaped=False):
    """User and system CPU seconds of a process (all its threads); with `reaped`, also of
    the children it has waited for. None if it is gone."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def postmaster_pid(pg_url):
    """The throwaway cluster's postmaster: the parent of its checkpointer."""
    pid = psql(pg_url, "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
    return int(stat_fields(pid)[1])


def cluster_cpu_s(postmaster):
    """CPU seconds of the whole PostgreSQL cluster so far: the postmaster, the backends
    it has reaped, and those alive (a backend that exits between two samples is in the
    postmaster's reaped time at the second)."""
    total = process_cpu_s(postmaster, reaped=True) or 0.0
    for entry in Path("/proc").iterdir():
        fields = stat_fields(entry.name) if entry.name.isdigit() else None
        if fields and int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def machine_busy_s():
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle and iowait
    return (sum(values[:8]) - idle) / TICK, sum(values[:8]) / TICK


class CpuMeter:
    """The CPU a run costs, per request: the server's own, PostgreSQL's and the load
    generator's (wrk or pgbench, which share the machine's cores), and how busy the
    machine's cores were."""

    def __init__(self, postmaster, server_pid=None):
        self.postmaster, self.server_pid = postmaster, server_pid

    def __enter__(self):
        self.start = self._sample()
        return self

    def __exit__(self, *exc):
        self.end = self._sample()

    def _sample(self):
        import resource
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"server": process_cpu_s(self.server_pid) if self.server_pid else None,
                "pg": cluster_cpu_s(self.postmaster), "load": children.ru_utime + children.ru_stime,
                "machine": machine_busy_s()}

    def per_request(self, requests):
        n = max(requests, 1)
        d = {k: (self.end[k] - self.start[k]) if self.start[k] is not None and self.end[k] is not None else None
             for k in ("server", "pg", "load")}
        busy = self.end["machine"][0] - self.start["machine"][0]
        total = self.end["machine"][1] - self.start["machine"][1]
        return {"cpu_server_ms": None if d["server"] is None else 1000 * d["server"] / n,
                "cpu_pg_ms": 1000 * d["pg"] / n, "cpu_load_ms": 1000 * d["load"] / n,
                "busy": busy / total if total else None}


class Server:
    def __init__(self, name, argv, env, port, log_path):
        self.name, self.port = name, port
        self.url = f"http://127.0.0.1:{port}/graphql"
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_for(self.url, self.process)

    def rss(self):
        return peak_rss_mib(self.process.pid)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def kb_token(kinbridge, database_url, key_file, code):
    out = subprocess.run([kinbridge, "token", "--org", code, "--database-url", database_url,
                          "--dev-key-file", key_file, "--ttl", "8h"],
                         check=True, capture_output=True, text=True, env={**os.environ, "RUST_LOG": "error"})
    return out.stdout.strip()


def line(token, query, variables=None):
    body = {"query": query}
    if variables is not None:
        body["variables"] = variables
    return f"{token}\t{json.dumps(body, separators=(',', ':'))}\n"


def hexid(prefix, uuid):
    return f"{prefix}_{uuid.replace('-', '')}"


def request_files(work, pg_url, tokens, seed):
    """Writes, for each workload, the Kinbridge and PostGraphile requests over the same rows."""
    rng = random.Random(seed)
    munis = [row.split("|") for row in psql(pg_url, "SELECT n, id, code FROM bench_municipalities ORDER BY n").splitlines()]
    files = {}

    def write(name, lines):
        path = work / f"{name}.txt"
        path.write_text("".join(lines))
        files[name] = path

    # (a): families of every municipality, each asked by its own municipality.
    fams = [r.split("|") for r in psql(pg_url, "SELECT f.id, m.code FROM bench_families b JOIN families f ON f.id = b.id "
                                       "JOIN organizations m ON m.id = f.organization_id ORDER BY b.n").splitlines()]
    sample = rng.sample(fams, min(2000, len(fams)))
    write("kb_a", [line(tokens[code], KB_A, {"id": hexid("fam", fid)}) for fid, code in sample])
    write("pgl_a", [line("", PGL_A, {"id": fid}) for fid, _ in sample])
    # (b) and (c): each municipality in turn.
    write("kb_b", [line(tokens[code], KB_B) for _, _, code in munis])
    write("pgl_b", [line("", PGL_B, {"org": mid}) for _, mid, _ in munis])
    write("kb_c", [line(tokens[code], KB_C) for _, _, code in munis])
    write("pgl_c", [line("", PGL_C, {"org": mid}) for _, mid, _ in munis])
    # (d): plan a visit, record one held (a past visit still planned), record a review;
    # each with its own idempotency key, so a request sent twice is a replay.
    placements = [r.split("|") for r in psql(pg_url,
        "SELECT p.id, m.code FROM bench_placements b JOIN placements p ON p.id = b.id "
        "JOIN organizations m ON m.id = p.organization_id ORDER BY b.n").splitlines()]
    past = [r.split("|") for r in psql(pg_url,
        "SELECT v.id, m.code FROM contact_visits v JOIN organizations m ON m.id = v.organization_id "
        "WHERE v.status = 'PLANNED' AND v.planned_start < now() ORDER BY v.id").splitlines()]
    plans = [r.split("|") for r in psql(pg_url,
        "SELECT pl.id, m.code FROM parent_action_plans pl JOIN organizations m ON m.id = pl.organization_id "
        "ORDER BY pl.id LIMIT 5000").splitlines()]
    rng.shuffle(past)
    # PostGraphile and Kinbridge record different visits as held: each visit once.
    half = len(past) // 2
    pgl_past, past = past[:half], past[half:]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    kb, pgl = [], []
    for i in range(min(len(past), len(pgl_past)) * 3):
        kind = i % 3
        if kind == 0:
            pid, code = placements[rng.randrange(len(placements))]
            start = time.strftime("%Y-%m-%dT14:00:00Z", time.gmtime(time.time() + 86400 * (1 + rng.randrange(20))))
            end = start.replace("T14:", "T16:")
            kb.append(line(tokens[code], KB_PLAN, {"i": {"placementId": hexid("plc", pid), "plannedStart": start,
                "plannedEnd": end, "supervision": "SUPPORTED", "supervisorName": SUPERVISOR,
                "idempotencyKey": f"bench-plan-{i}"}}))
            org = next(m[1] for m in munis if m[2] == code)
            pgl.append(line("", PGL_PLAN, {"v": {"rowId": str(uuid.UUID(int=rng.getrandbits(128))), "organizationId": org, "placementId": pid,
                "plannedStart": start, "plannedEnd": end, "supervision": "SUPPORTED", "supervisorName": SUPERVISOR, "status": "PLANNED",
                "createdAt": start, "updatedAt": start, "version": 1}}))
        elif kind == 1:
            vid, code = past[i // 3]
            kb.append(line(tokens[code], KB_HELD, {"i": {"id": hexid("vis", vid), "idempotencyKey": f"bench-held-{i}"}}))
            pgl.append(line("", PGL_HELD, {"id": pgl_past[i // 3][0], "at": today + "T12:00:00Z"}))
        else:
            plan, code = plans[rng.randrange(len(plans))]
            kb.append(line(tokens[code], KB_REVIEW, {"i": {"planId": hexid("pln", plan), "kind": "STATUS_MEETING",
                "heldOn": today, "note": "Opfølgning", "idempotencyKey": f"bench-review-{i}"}}))
            org = next(m[1] for m in munis if m[2] == code)
            pgl.append(line("", PGL_REVIEW, {"r": {"rowId": str(uuid.UUID(int=rng.getrandbits(128))), "organizationId": org, "planId": plan, "kind": "STATUS_MEETING",
                "heldOn": today, "note": "Opfølgning", "createdAt": today + "T12:00:00Z"}}))
    write("kb_d", kb)
    write("pgl_d", pgl)
    return files


def split_mutations(files, work, runs):
    """Gives each run of the mutation mix lines of its own, so that no run replays another's
    (a replay is an idempotent answer for Kinbridge and a duplicate key for PostGraphile),
    and keeps one request of each kind apart for the preflight."""
    for prefix in ("kb", "pgl"):
        lines = files[f"{prefix}_d"].read_text().splitlines(keepends=True)
        check, rest = lines[:3], lines[3:]
        (work / f"{prefix}_d_check.txt").write_text("".join(check))
        files[f"{prefix}_d_check"] = work / f"{prefix}_d_check.txt"
        size = len(rest) // runs
        for k in range(runs):
            path = work / f"{prefix}_d{k}.txt"
            path.write_text("".join(rest[k * size:(k + 1) * size]))
            files[f"{prefix}_d{k}"] = path
    return size


def preflight(server, requests_file):
    """Sends a file's requests once and stops the benchmark on any error: a workload whose
    requests fail measures the failure, not the work."""
    for text in Path(requests_file).read_text().splitlines():
        token, body = text.split("\t", 1)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(server.url, data=body.encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer = response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            status, answer = e.code, e.read().decode()
        if status != 200 or '"errors"' in answer:
            raise SystemExit(f"{server.name} refused a benchmark request ({requests_file.name}), status {status}:\n"
                             f"{body[:300]}\n{answer[:600]}")


def statements(pg_url):
    return int(psql(pg_url, "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'kinbridge_bench') "
                    "AND query NOT ILIKE '%pg_stat_statements%' AND query NOT LIKE '/* maintenance */%'") or 0)


def wrk(url, requests_file, connections, seconds):
    threads = str(min(2, connections))
    out = subprocess.run(["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s",
                          "-s", str(HERE / "wrk.lua"), url],
                         capture_output=True, text=True,
                         env={**os.environ, "KB_REQUESTS": str(requests_file), "KB_THREADS": threads})
    for text in reversed(out.stdout.splitlines()):
        if text.startswith("{"):
            r = json.loads(text)
            seconds_run = r["duration_us"] / 1e6
            return {"rps": r["requests"] / seconds_run, "p50": r["p50_us"] / 1000, "p99": r["p99_us"] / 1000,
                    "requests": r["requests"], "failed": r["failed"] + r["socket_errors"]}
    raise SystemExit(f"wrk printed no figures: {out.stdout}\n{out.stderr}")


def pgbench(bindir, url, workload, connections, seconds, variables, work):
    script = work / f"pgbench_{workload}.sql"
    script.write_text(PGBENCH[workload])
    argv = [str(Path(bindir) / "pgbench"), "-n", "-M", "prepared", "-c", str(connections),
            "-j", str(min(2, connections)), "-T", str(seconds), "-f", str(script), "-r"]
    for k, v in variables.items():
        argv += ["-D", f"{k}={v}"]
    argv.append(url)
    out = subprocess.run(argv, capture_output=True, text=True)
    figures = {"rps": None, "p50": None, "p99": None, "failed": 0, "requests": None}
    for text in out.stdout.splitlines():
        if text.startswith("tps ="):
            figures["rps"] = float(text.split()[2])
        if text.startswith("latency average"):
            figures["p50"] = float(text.split()[3])
        if text.startswith("number of transactions actually processed"):
            figures["requests"] = int(text.split(":")[1].split()[0])
        if text.startswith("number of failed transactions"):
            figures["failed"] = int(text.split(":")[1].split()[0])
    if figures["rps"] is None:
        raise SystemExit(f"pgbench failed:\n{out.stdout}\n{out.stderr}")
    return figures


def fmt(x, digits=0):
    return "—" if x is None else f"{x:,.{digits}f}"


def report(results, rss, meta, out_dir):
    rows = ["# Kinbridge against PostGraphile 5 and raw SQL", "",
            f"Measured {meta['when']} on {meta['machine']}; {meta['data']}. Each cell is one run of "
            f"{meta['seconds']} s with wrk (pgbench for raw SQL), in one session, interleaved by workload. "
            "Kinbridge runs with token verification, the sharing scope and the audit trail on; PostGraphile "
            "without authentication over the same tables. Raw SQL's latency column is pgbench's average, "
            "not its median. Compare within one run: this machine varies 15–20 % from run to run.", ""]
    header = ("| workload | c | raw SQL (pgbench) tps | PostGraphile 5 rps | p50 / p99 ms | statements/req | "
              "Kinbridge PG rps | p50 / p99 ms | statements/req | Kinbridge SQLite rps | p50 / p99 ms | "
              "Kinbridge / PostGraphile | Kinbridge / raw SQL | failed (KB PG / PGL / KB SQLite) |")
    rows += [header, "|" + " --- |" * 14]
    for w, title in WORKLOADS.items():
        for c in meta["concurrency"]:
            r = {s: results.get((s, w, c)) for s in ("raw", "pgl", "kb", "kbs")}
            def cell(s, key, digits=0):
                return fmt(r[s][key], digits) if r[s] else "—"
            def lat(s):
                return f"{cell(s, 'p50', 1)} / {cell(s, 'p99', 1)}" if r[s] else "—"
            ratio_pgl = fmt(r["kb"]["rps"] / r["pgl"]["rps"], 2) if r["kb"] and r["pgl"] else "—"
            ratio_raw = fmt(r["kb"]["rps"] / r["raw"]["rps"], 2) if r["kb"] and r["raw"] else "—"
            failed = " / ".join(str(r[s]["failed"]) if r[s] else "—" for s in ("kb", "pgl", "kbs"))
            rows.append(f"| {title} | {c} | {cell('raw', 'rps')} | {cell('pgl', 'rps')} | {lat('pgl')} | "
                        f"{cell('pgl', 'statements', 1)} | {cell('kb', 'rps')} | {lat('kb')} | "
                        f"{cell('kb', 'statements', 1)} | {cell('kbs', 'rps')} | {lat('kbs')} | {ratio_pgl} | "
                        f"{ratio_raw} | {failed} |")
    rows += ["", "Targets (the benchmark's issue), each as measured in this run:", "",
             "| target | c | measured | met |", "| --- | --- | --- | --- |"]
    for w, c, want, what in [(w, c, want, what) for w, want, what in (
            ("a", 3.0, "pgl"), ("c", 3.0, "pgl"), ("b", 2.5, "pgl"), ("b", 0.8, "raw"), ("d", 0.5, "raw"))
            for c in meta["concurrency"] if c >= 8]:
        kb, other = results.get(("kb", w, c)), results.get((what, w, c))
        if not kb or not other or not other["rps"]:
            continue
        ratio = kb["rps"] / other["rps"]
        name = "PostGraphile 5" if what == "pgl" else "raw SQL"
        p99 = ""
        if what == "pgl" and w in ("a", "c"):
            p99 = f"; p99 {fmt(kb['p99'], 1)} against {fmt(other['p99'], 1)} ms"
        met = ratio >= want and (not p99 or kb["p99"] < other["p99"])
        verdict = "yes" if met else f"no, {ratio / want:.0%} of the target"
        failed = kb["failed"] + other.get("failed", 0)
        if failed:
            verdict = f"not comparable: {failed} requests failed"
        rows.append(f"| {WORKLOADS[w]}: {want:g}× {name} | {c} | {ratio:.2f}×{p99} | {verdict} |")
    limits = []
    for w, c, want, what in [(w, c, want, what) for w, want, what in (
            ("a", 3.0, "pgl"), ("c", 3.0, "pgl"), ("b", 2.5, "pgl"), ("d", 0.5, "raw"))
            for c in meta["concurrency"] if c >= 8]:
        kb, other, raw = results.get(("kb", w, c)), results.get((what, w, c)), results.get(("raw", w, c))
        if not kb or not other or not other["rps"] or kb["rps"] >= want * other["rps"]:
            continue
        limits.append(limit_text(w, c, want, what, kb, other, raw, meta))
    for server, mib in rss.items():
        if server.startswith("Kinbridge") and mib is not None:
            rows.append(f"| peak RSS at most 100 MiB: {server} | all | {mib:.1f} MiB | {'yes' if mib <= 100 else 'no'} |")
    if limits:
        rows += ["", "What limits each missed target, from the CPU each run cost (below):", ""]
        rows += [f"- {text}" for text in limits]
    rows += ["", "CPU per request in ms: the server's own, PostgreSQL's (the whole cluster: backends, "
             "WAL writer, checkpointer, autovacuum) and the load generator's (wrk, or pgbench for raw SQL), "
             "which share the machine's cores; and how busy the cores were during the run.", "",
             "| workload | c | raw SQL: PostgreSQL / pgbench | PostGraphile 5: own / PostgreSQL / wrk | "
             "Kinbridge PG: own / PostgreSQL / wrk | Kinbridge SQLite: own / wrk | cores busy (raw / PGL / KB PG / KB SQLite) |",
             "|" + " --- |" * 7]
    for w, title in WORKLOADS.items():
        for c in meta["concurrency"]:
            r = {s: results.get((s, w, c)) for s in ("raw", "pgl", "kb", "kbs")}
            def cpu(s, keys):
                if not r[s] or r[s].get("cpu_pg_ms") is None:
                    return "—"
                return " / ".join(fmt(r[s].get(k), 2) for k in keys)
            busy = " / ".join(fmt(100 * r[s]["busy"]) + " %" if r[s] and r[s].get("busy") is not None else "—"
                              for s in ("raw", "pgl", "kb", "kbs"))
            rows.append(f"| {title} | {c} | {cpu('raw', ('cpu_pg_ms', 'cpu_load_ms'))} | "
                        f"{cpu('pgl', ('cpu_server_ms', 'cpu_pg_ms', 'cpu_load_ms'))} | "
                        f"{cpu('kb', ('cpu_server_ms', 'cpu_pg_ms', 'cpu_load_ms'))} | "
                        f"{cpu('kbs', ('cpu_server_ms', 'cpu_load_ms'))} | {busy} |")
    profiles = meta.get("profiles") or {}
    if profiles:
        names = [w for w in WORKLOADS if w in profiles]
        stages = [name for name, _ in cpu_profile.STAGES] + ["elsewhere"]
        rows += ["", "Where Kinbridge's own CPU goes (on PostgreSQL), sampled with `perf` during a run of its own "
                 f"at {profiles[names[0]]['c']} connections: the share of the samples in each stage of a request "
                 "(`bench/cpu_profile.py` says which frames make a stage), and a flame graph of each run.", "",
                 "| stage | " + " | ".join(WORKLOADS[w] for w in names) + " |", "|" + " --- |" * (len(names) + 1)]
        for stage in stages:
            shares = [dict(profiles[w]["stages"]).get(stage) for w in names]
            if any(shares):
                rows.append(f"| {stage} | " + " | ".join(f"{100 * x:.1f} %" if x else "—" for x in shares) + " |")
        rows.append("| samples | " + " | ".join(str(profiles[w]["samples"]) for w in names) + " |")
        rows += ["", "Flame graphs: " + ", ".join(f"[{WORKLOADS[w]}](flame_{w}.svg)" for w in names) + "."]
    rows += ["", "Peak resident memory (VmHWM) of each server over the whole run:", "",
             "| server | peak RSS |", "| --- | --- |"]
    rows += [f"| {name} | {fmt(mib, 1)} MiB |" for name, mib in rss.items()]
    rows += ["", "![throughput and p99 against concurrency](report.png)", ""]
    (out_dir / "report.md").write_text("\n".join(rows))
    chart(results, meta, out_dir / "report.png")


def limit_text(w, c, want, what, kb, other, raw, meta):
    """Why (w, c) misses its target, from the run's CPU figures: the CPU the machine's cores
    allow per request at the target rate, against what Kinbridge's requests cost."""
    name = "PostGraphile 5" if what == "pgl" else "raw SQL"
    target = want * other["rps"]
    cores = meta.get("cores") or os.cpu_count()
    text = f"{WORKLOADS[w]} at {c}: {want:g}× {name} is {fmt(target)} requests a second"
    if kb.get("cpu_pg_ms") is None:
        return text + "; this run has no CPU figures."
    budget = 1000 * cores / target
    spent = [kb.get("cpu_server_ms") or 0, kb["cpu_pg_ms"], kb.get("cpu_load_ms") or 0]
    text += (f", {budget:.2f} ms of CPU per request on {cores} cores for Kinbridge, PostgreSQL and wrk together. "
             f"Kinbridge's requests took {spent[0]:.2f} ms of its own CPU, {spent[1]:.2f} ms of PostgreSQL's and "
             f"{spent[2]:.2f} ms of wrk's ({sum(spent) / budget:.1f}× the budget)")
    busy = kb.get("busy")
    if busy is not None and busy >= 0.9:
        text += f", with the cores {busy:.0%} busy: the CPU limits it"
    elif busy is not None:
        text += f", with the cores {busy:.0%} busy: not the CPU alone, but waits (commits, locks, round trips)"
    if raw and raw.get("cpu_pg_ms") is not None:
        text += (f". Raw SQL's {fmt(raw['rps'])} transactions a second took {raw['cpu_pg_ms']:.2f} ms of "
                 f"PostgreSQL's CPU and {raw['cpu_load_ms']:.2f} ms of pgbench's each")
        if raw["rps"] < target:
            text += "; pgbench's statements reach less than the target"
    return text + "."


def chart(results, meta, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = {"raw": "raw SQL (pgbench)", "pgl": "PostGraphile 5", "kb": "Kinbridge / PostgreSQL", "kbs": "Kinbridge / SQLite"}
    colours = {"raw": "tab:blue", "pgl": "tab:orange", "kb": "tab:green", "kbs": "tab:red"}
    fig, axes = plt.subplots(2, len(WORKLOADS), figsize=(4 * len(WORKLOADS), 7), squeeze=False)
    for i, (w, title) in enumerate(WORKLOADS.items()):
        for s, label in names.items():
            cs = [c for c in meta["concurrency"] if results.get((s, w, c))]
            if not cs:
                continue
            axes[0][i].plot(cs, [results[(s, w, c)]["rps"] for c in cs], marker="o", label=label, color=colours[s])
            p99 = [results[(s, w, c)]["p99"] for c in cs]
            # pgbench reports no percentiles: raw SQL has no p99 line.
            if all(p is not None for p in p99):
                axes[1][i].plot(cs, p99, marker="o", label=label, color=colours[s])
        axes[0][i].set_title(title, fontsize=9)
        axes[0][i].set_ylabel("requests per second")
        axes[1][i].set_ylabel("p99 latency (ms)")
        for ax in (axes[0][i], axes[1][i]):
            ax.set_xscale("log", base=2)
            ax.set_xticks(meta["concurrency"], [str(c) for c in meta["concurrency"]])
            ax.set_xlabel("concurrent connections")
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    axes[1][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--postgres-url", help="a superuser URL of the throwaway cluster")
    p.add_argument("--pg-bindir")
    p.add_argument("--kinbridge")
    p.add_argument("--postgraphile", help="the postgraphile executable (Node 22 on PATH)")
    p.add_argument("--families", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seconds", type=int, default=4)
    p.add_argument("--concurrency", default="1,8,32")
    p.add_argument("--workloads", default="a,b,c,d")
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--report-only", action="store_true", help="rewrite the report from --out's results.json")
    args = p.parse_args()
    if args.report_only:
        saved = json.loads((Path(args.out) / "results.json").read_text())
        runs = {(r["server"], r["workload"], r["c"]): r for r in saved["runs"]}
        report(runs, saved["rss_mib"], saved["meta"], Path(args.out))
        return
    concurrency = [int(c) for c in args.concurrency.split(",")]
    workloads = args.workloads.split(",")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kinbridge-bench."))
    servers = []
    try:
        base = args.postgres_url.rsplit("/", 1)[0]
        pg_url = f"{base}/kinbridge_bench"
        psql(args.postgres_url, "DROP DATABASE IF EXISTS kinbridge_bench")
        psql(args.postgres_url, "CREATE DATABASE kinbridge_bench")
        sqlite_url = f"sqlite://{work}/bench.db?mode=rwc"
        env = {**os.environ, "RUST_LOG": "warn", "KINBRIDGE_DEV_KEY_FILE": str(work / "dev.key")}
        # Both databases load at once: PostgreSQL's load waits mostly on the server,
        # SQLite's on its own writer.
        log(f"generating {args.families} families into PostgreSQL and SQLite")
        started = time.time()
        seeds = [subprocess.Popen([args.kinbridge, "seed", "--families", str(args.families), "--seed", str(args.seed),
                                   "--database-url", url], env=env) for url in (pg_url, sqlite_url)]
        if any(code != 0 for code in [s.wait() for s in seeds]):
            raise SystemExit("the generator failed")
        log(f"  loaded in {time.time() - started:.1f} s")
        psql(pg_url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        psql(pg_url, COORDINATION_VIEW)
        psql(pg_url, "CREATE TABLE bench_families AS SELECT row_number() OVER (ORDER BY id) AS n, id FROM families; "
                     "CREATE UNIQUE INDEX ON bench_families (n); "
                     "CREATE TABLE bench_municipalities AS SELECT row_number() OVER (ORDER BY code) AS n, id, code "
                     "FROM organizations WHERE kind = 'MUNICIPALITY'; CREATE UNIQUE INDEX ON bench_municipalities (n); "
                     "CREATE TABLE bench_placements AS SELECT row_number() OVER (ORDER BY id) AS n, id, organization_id "
                     "FROM placements; CREATE UNIQUE INDEX ON bench_placements (n); ANALYZE;")
        counts = dict(n=psql(pg_url, "SELECT count(*) FROM bench_families"),
                      m=psql(pg_url, "SELECT count(*) FROM bench_municipalities"),
                      p=psql(pg_url, "SELECT count(*) FROM bench_placements"),
                      v=psql(pg_url, "SELECT count(*) FROM contact_visits"))
        codes = psql(pg_url, "SELECT code FROM bench_municipalities ORDER BY n").split()
        log("minting a development token per municipality")
        tokens = {code: kb_token(args.kinbridge, pg_url, str(work / "dev.key"), code) for code in codes}
        files = request_files(work, pg_url, tokens, args.seed)
        # The SQLite copy has the same ids (the generator is deterministic), so the same
        # requests and tokens serve it, and the same lines of the mutation mix.
        per_run = split_mutations(files, work, len(concurrency))

        ports = {name: free_port() for name in ("kb", "kbs", "pgl")}
        servers.append(Server("kb", [args.kinbridge, "serve", "--database-url", pg_url, "--listen",
                                     f"127.0.0.1:{ports['kb']}"], env, ports["kb"], out_dir / "kinbridge-postgres.log"))
        servers.append(Server("kbs", [args.kinbridge, "serve", "--database-url", sqlite_url, "--listen",
                                      f"127.0.0.1:{ports['kbs']}"], env, ports["kbs"], out_dir / "kinbridge-sqlite.log"))
        servers.append(Server("pgl", [args.postgraphile, "-P", "postgraphile/presets/amber", "-c", pg_url, "-s",
                                      "public", "-p", str(ports["pgl"]), "-n", "127.0.0.1"],
                              {**os.environ, "GRAPHILE_ENV": "production"}, ports["pgl"], out_dir / "postgraphile.log"))
        by_name = {s.name: s for s in servers}
        log("checking that every server answers every workload's requests without errors")
        for w in workloads:
            for s in servers:
                prefix = "pgl" if s.name == "pgl" else "kb"
                if w == "d":
                    preflight(s, files[f"{prefix}_d_check"])
                else:
                    for k, text in enumerate(files[f"{prefix}_{w}"].read_text().splitlines()[:3]):
                        one = work / f"check_{s.name}_{w}_{k}.txt"
                        one.write_text(text + "\n")
                        preflight(s, one)
        # Warm every server on each read workload (one second at 8 connections, not
        # measured): its pool grows, each connection prepares its statements, PostgreSQL's
        # new backends fill their catalogue caches. Then a checkpoint, so that the first
        # runs do not pay for writing out the data set the generator just loaded. The
        # first measured run of (a) at 8 connections had a p99 of 216-294 ms on Kinbridge
        # (whose reads commit their audit) in three runs of this benchmark without either,
        # against 17-40 ms for the same requests on a server already warm.
        log("warming each server on the read workloads")
        for w in [w for w in workloads if w != "d"]:
            for s in servers:
                wrk(s.url, files[f"{'pgl' if s.name == 'pgl' else 'kb'}_{w}"], 8, 1)
        psql(args.postgres_url, "CHECKPOINT")
        results = {}
        postmaster = postmaster_pid(pg_url)
        variables = {"families": counts["n"], "municipalities": counts["m"], "placements": counts["p"]}
        for w in workloads:
            for c in concurrency:
                log(f"workload {w}, {c} connections")
                if w == "d":
                    psql(args.postgres_url, "CHECKPOINT")
                with CpuMeter(postmaster) as cpu:
                    raw = pgbench(args.pg_bindir, pg_url, w, c, args.seconds, variables, work)
                raw.update(cpu.per_request(raw["requests"] or round(raw["rps"] * args.seconds)))
                results[("raw", w, c)] = raw
                for name in ("pgl", "kb", "kbs"):
                    prefix = "pgl" if name == "pgl" else "kb"
                    requests_file = files[f"{prefix}_{w}"]
                    if w == "d":
                        # Each run writes its own lines, after a checkpoint, so that none
                        # pays for the writes of the run before it.
                        requests_file = files[f"{prefix}_d{concurrency.index(c)}"]
                        psql(args.postgres_url, "CHECKPOINT")
                    if name in ("kb", "pgl"):
                        psql(pg_url, "SELECT pg_stat_statements_reset()")
                    with CpuMeter(postmaster, by_name[name].process.pid) as cpu:
                        r = wrk(by_name[name].url, requests_file, c, args.seconds)
                    r.update(cpu.per_request(r["requests"]))
                    if w == "d" and r["requests"] > per_run:
                        log(f"  {name} sent {r['requests']} mutations, more than the run's {per_run} lines: "
                            "the rest were replays")
                    if name in ("kb", "pgl"):
                        r["statements"] = statements(pg_url) / max(r["requests"], 1)
                    else:
                        r["statements"] = None
                    results[(name, w, c)] = r
                    log(f"  {name}: {r['rps']:.0f} rps, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
                        f"failed {r['failed']}, CPU ms/request {fmt(r['cpu_server_ms'], 2)} own, "
                        f"{fmt(r['cpu_pg_ms'], 2)} PostgreSQL, cores {fmt(100 * (r['busy'] or 0))}% busy")
        profiles = {}
        if cpu_profile.available():
            c = 8 if 8 in concurrency else max(concurrency)
            # The read workloads: a profile of the mutation mix would replay lines already
            # written, and show the idempotency replay rather than the writes.
            for w in [w for w in workloads if w != "d"]:
                log(f"profiling Kinbridge on PostgreSQL under workload {w}, {c} connections")
                requests_file = files[f"kb_{w}"]
                data = work / f"perf_{w}.data"
                perf = cpu_profile.record(by_name["kb"].process.pid, args.seconds, data)
                wrk(by_name["kb"].url, requests_file, c, args.seconds)
                if perf.wait() != 0 or not data.exists():
                    log(f"  perf could not sample Kinbridge: {perf.stderr.read().strip()[:300]}")
                    continue
                stacks = cpu_profile.fold(data)
                cpu_profile.flamegraph(stacks, out_dir / f"flame_{w}.svg", f"Kinbridge on PostgreSQL, {WORKLOADS[w]}, c = {c}")
                profiles[w] = {"c": c, "samples": sum(stacks.values()), "stages": cpu_profile.stages(stacks)}
        else:
            log("perf is not installed: the report has no profile of Kinbridge")
        rss = {"Kinbridge on PostgreSQL": by_name["kb"].rss(), "Kinbridge on SQLite": by_name["kbs"].rss(),
               "PostGraphile 5 (node)": by_name["pgl"].rss()}
        meta = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "machine": f"{os.cpu_count()} cores", "cores": os.cpu_count(),
                "data": f"{counts['n']} families, {counts['p']} placements, {counts['v']} contact visits",
                "seconds": args.seconds, "concurrency": concurrency, "profiles": profiles}
        (out_dir / "results.json").write_text(json.dumps(
            {"meta": meta, "rss_mib": rss, "runs": [{"server": s, "workload": w, "c": c, **r}
                                                      for (s, w, c), r in results.items()]}, indent=1))
        report(results, rss, meta, out_dir)
        log(f"report written to {out_dir / 'report.md'} and {out_dir / 'report.png'}")
        print((out_dir / "report.md").read_text())
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
