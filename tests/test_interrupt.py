"""SIGINT and SIGKILL during `explain --jsonl`, `report --out` and `index --out` (300 texts, each run its own
process): the previous output stays byte-identical or the new one is complete, never a mix; a normal run leaves
no temporary behind and removes those of killed runs.

Each run is a process forked from a server that has imported trexplain and the model's code once, then runs the
CLI's entry point: the same code path as `trexplain ...`, without paying the imports fifteen times.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import trexplain
from trexplain.inputs import read_texts
from trexplain.inspect.neighbours import CorpusIndex
from trexplain.io import TEMP_TAG, clean_stale

TWEETS = Path(__file__).with_name("fixtures") / "tweets.csv"
# when to signal, as a share of a whole run's CPU time: early (reading, checking, loading the model), mid-work,
# and mid-write (once the output's temporary exists, past halfway)
SHARES = {"start": 0.15, "work": 0.6, "write": 0.5}
TRIALS = [(signal.SIGKILL, "start"), (signal.SIGINT, "work"), (signal.SIGINT, "write"), (signal.SIGKILL, "write")]
TIMEOUT = 120.0

SERVER = r"""
import json, os, signal, sys
from trexplain.cli.common import app
from trexplain.models.loading import load_model

load_model(sys.argv[1])  # imports the model family's code: every forked run starts warm
signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in an interactive shell
print("ready", flush=True)
for line in sys.stdin:
    children = set()
    for request in json.loads(line):
        pid = os.fork()
        if pid == 0:
            os.chdir(request["cwd"])
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            os.dup2(os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
            try:
                app(request["args"], prog_name="trexplain")
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except KeyboardInterrupt:  # escaped the CLI: die of SIGINT, as Python would
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGINT)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        children.add(pid)
        print("started", pid, flush=True)
    while children:
        pid, status = os.wait()
        children.discard(pid)
        print("ended", pid, os.waitstatus_to_exitcode(status), flush=True)
"""


@dataclass(frozen=True)
class Command:
    """How to run one command for the previous output (`new=False`) and for the interrupted run, and what a
    complete output of the interrupted run's arguments looks like."""

    name: str
    output: str
    args: Callable[[Path, Path, bool], list[str]]
    complete: Callable[[Path, list[str]], None]


def explain_args(corpus: Path, out: Path, new: bool) -> list[str]:
    target = "all" if new else "predicted"
    return ["explain", "-i", str(corpus), "--jsonl", str(out), "--method", "occlusion", "--target", target]


def explain_complete(out: Path, texts: list[str]) -> None:
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in records] == texts and all(len(r["explanations"]) == 3 for r in records)


def report_args(corpus: Path, out: Path, new: bool) -> list[str]:
    title = "new run" if new else "old run"
    return [
        "report",
        "-i",
        str(corpus),
        "--out",
        str(out),
        "--method",
        "occlusion",
        "--attention",
        "5",
        "--title",
        title,
    ]


def report_complete(out: Path, texts: list[str]) -> None:
    document = out.read_text()
    payload = json.loads(re.search(r'id="tx-data">(.*?)</script>', document, re.S).group(1))
    assert document.endswith("</html>\n") and payload["title"] == "new run" and len(payload["texts"]) == len(texts)


def index_args(corpus: Path, out: Path, new: bool) -> list[str]:
    return ["index", str(corpus), "--out", str(out), "--batch-size", "2", *(["--layers", "0,-1"] if new else [])]


def index_complete(out: Path, texts: list[str]) -> None:
    index = CorpusIndex.open(out)
    assert index.layers == [0, 2] and index.vectors.shape[0] == 2 and len(index) == index.meta["tokens"]
    assert len(index.table) == len(index) and index.texts == texts


COMMANDS = [
    Command("explain", "out.jsonl", explain_args, explain_complete),
    Command("report", "report.html", report_args, report_complete),
    Command("index", "idx", index_args, index_complete),
]


@dataclass
class Run:
    """One CLI process, what it was sent, and how it ended."""

    command: Command
    folder: Path
    sig: signal.Signals | None = None
    trigger: str | None = None
    pid: int = 0
    cpu: float = 0.0
    sent: bool = False
    writing: bool = False  # its temporary existed when the signal went
    code: int | None = None
    before: object = None

    @property
    def out(self) -> Path:
        return self.folder / self.command.output

    @property
    def stderr(self) -> str:
        return (self.folder.parent / f"{self.folder.name}.stderr").read_text()


class Server:
    """The process that forks one CLI run per request and reports how each ended."""

    def __init__(self, model: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(Path(trexplain.__file__).parents[1]), env.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVER, str(model)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stdout.readline() == "ready\n"
        self.started: queue.Queue[int] = queue.Queue()
        self.ended: dict[int, int] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            kind, pid, *code = line.split()
            if kind == "started":
                self.started.put(int(pid))
            else:
                self.ended[int(pid)] = int(code[0])

    def launch(self, runs: list[Run], corpus: Path, model: Path, new: bool) -> None:
        requests = [
            {
                "cwd": str(run.folder),
                "stderr": str(run.folder.parent / f"{run.folder.name}.stderr"),
                "args": [*run.command.args(corpus, run.out, new), "--model", str(model)],
            }
            for run in runs
        ]
        self.process.stdin.write(json.dumps(requests) + "\n")
        self.process.stdin.flush()
        for run in runs:
            run.pid = self.started.get(timeout=60)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def temporaries(run: Run) -> list[str]:
    prefix = f".{run.command.output}{TEMP_TAG}"
    return sorted(name for name in os.listdir(run.folder) if name.startswith(prefix))


def drive(server: Server, runs: list[Run], whole: dict[str, float]) -> None:
    """Poll every run; send each its signal when its trigger fires; wait until all have ended."""
    deadline = time.monotonic() + TIMEOUT
    while not all(run.pid in server.ended for run in runs):
        assert time.monotonic() < deadline, "a run did not end"
        for run in runs:
            if run.pid in server.ended or run.sig is None or run.sent:
                continue
            run.cpu = cpu_seconds(run.pid) or run.cpu
            found = temporaries(run) if run.trigger == "write" else []
            if run.cpu >= SHARES[run.trigger] * whole[run.command.name] and (found or run.trigger != "write"):
                run.writing = bool(found)
                os.kill(run.pid, run.sig)
                run.sent = True
        time.sleep(0.003)
    for run in runs:
        run.code = server.ended[run.pid]


def state(path: Path) -> dict[str, bytes] | bytes | None:
    """A file's bytes, a folder's files' bytes by name, or None when absent."""
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return path.read_bytes() if path.exists() else None


@pytest.fixture(scope="module")
def interrupted(tiny_dirs, tmp_path_factory):
    """Per command: the normal run that made the previous output (beside a stale temporary of a killed run and
    the temporary of a live one), then the `TRIALS`, each over its own copy of that output; all commands' runs
    side by side."""
    root = tmp_path_factory.mktemp("interrupt")
    corpus = root / "corpus.txt"
    texts = read_texts(TWEETS) * 10
    corpus.write_text("".join(t + "\n" for t in texts))
    model = tiny_dirs["bert"]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    server = Server(model)
    try:
        normal = []
        for command in COMMANDS:
            folder = root / command.name / "normal"
            folder.mkdir(parents=True)
            (folder / f".{command.output}{TEMP_TAG}{dead.stdout.strip()}-killed").write_text("left by a killed run")
            (folder / f".{command.output}{TEMP_TAG}{os.getpid()}-running").write_text("a run still going")
            normal.append(Run(command, folder))
        server.launch(normal, corpus, model, new=False)
        whole: dict[str, float] = {}
        while not all(run.pid in server.ended for run in normal):
            for run in normal:
                whole[run.command.name] = cpu_seconds(run.pid) or whole.get(run.command.name, 0.0)
            time.sleep(0.003)
        for run in normal:
            run.code = server.ended[run.pid]
        trials = []
        for run in normal:
            for sig, trigger in TRIALS:
                folder = run.folder.parent / f"{sig.name}-{trigger}"
                folder.mkdir()
                (shutil.copytree if run.out.is_dir() else shutil.copy2)(run.out, folder / run.command.output)
                trials.append(Run(run.command, folder, sig, trigger, before=state(run.out)))
        server.launch(trials, corpus, model, new=True)
        drive(server, trials, whole)
    finally:
        server.close()
    return {"texts": texts, "normal": normal, "trials": trials, "whole": whole}


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_a_normal_run_cleans_up_after_killed_runs(interrupted, command):
    [run] = [r for r in interrupted["normal"] if r.command is command]
    assert run.code == 0, run.stderr
    live = f".{command.output}{TEMP_TAG}{os.getpid()}-running"
    assert sorted(os.listdir(run.folder)) == sorted([command.output, live])  # the stale one gone, the live one kept
    assert run.stderr.startswith(("wrote ", "indexed ")) and run.stderr.count("\n") == 1


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_an_interrupted_run_leaves_the_old_output_or_the_whole_new_one(interrupted, command):
    for run in [r for r in interrupted["trials"] if r.command is command]:
        where = f"{run.sig.name} at {run.trigger} (cpu {run.cpu:.2f}s, exit {run.code}): {run.stderr[-300:]}"
        if run.code == 0 or state(run.out) != run.before:  # the signal came too late: the new output, whole
            command.complete(run.out, interrupted["texts"])
        assert "Traceback" not in run.stderr, where
        left = temporaries(run)
        if run.sig == signal.SIGKILL and run.code != 0:  # no chance to clean up: recognisable, for the next run
            assert all(re.fullmatch(rf"\.{re.escape(command.output)}\.tmp-{run.pid}-\w+", n) for n in left), left
            assert sorted(p.name for p in clean_stale(run.out)) == left
        else:
            assert left == [], where
        assert os.listdir(run.folder) == [command.output], where
        if run.trigger != "write":
            assert run.code == (130 if run.sig == signal.SIGINT else -signal.SIGKILL), where  # really interrupted


def test_writes_were_interrupted(interrupted):
    """Each command had a run that was signalled while its output's temporary existed, and did not finish."""
    hit = {r.command.name for r in interrupted["trials"] if r.writing and r.code != 0 and state(r.out) == r.before}
    assert hit == {c.name for c in COMMANDS}, [
        (r.command.name, r.sig.name, r.trigger, r.code) for r in interrupted["trials"]
    ]
