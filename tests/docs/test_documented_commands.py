"""Every shell command that the README and the documentation pages show still works.

The commands come from the pages' `bash` blocks and from inline code that starts a command (`snakemake ...`,
`python ...`, `pip install ...`). Each is checked without running the work it describes:
- `snakemake ...`: a dry run of the same arguments, in a copy of the repository (a renamed preset, target or option
  fails it);
- `python -m MODULE ...` and `python SCRIPT ...`: `--help` of the module (with its subcommand), and every option the
  command passes must appear in that help;
- `pip install -e ".[extras]"`: every extra exists in pyproject.toml;
- any other program: it is on PATH and answers `--help`;
- every argument that names a file of the repository (a preset, profile, script) must exist.
"""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHELL_BLOCKS = {"bash", "sh", "shell", "console"}
COMMAND_STARTS = ("snakemake ", "python ", "pip install ")
# Programs a page may name that change the machine rather than the project: not run.
SYSTEM_PROGRAMS = {"apt-get", "sudo", "cd", "export"}
# Programs of the sites a page sends users to that this machine cannot install: apptainer is neither packaged for
# Debian 12 nor on PyPI. What Snakemake asks of it is tested with a stand-in (tests/external/apptainer_adapter).
SITE_PROGRAMS = {"apptainer"}
# Top-level entries of the repository that a command argument may name as an input file.
REPOSITORY_INPUTS = ("presets/", "profiles/", "benchmarks/", "tests/", "containers/", "envs/", "docs/", "rules/",
                     "workflow_scripts/", "config.yaml", "Snakefile", "pyproject.toml")


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    source: str  # page:line

    def __str__(self):
        return f"{self.source}: {shlex.join(self.words)}"


def split_commands(text: str, source: str) -> list[Command]:
    """A shell line (continuations joined, comments dropped) as its `&&`-separated simple commands."""
    words = shlex.split(text, comments=True)
    commands, current = [], []
    for word in words + ["&&"]:
        if word in ("&&", "||", ";"):
            if current:
                commands.append(Command(tuple(current), source))
            current = []
        else:
            current.append(word)
    return commands


def page_commands(page: Path, root: Path = ROOT) -> list[Command]:
    text = page.read_text()
    name = page.relative_to(root)
    commands = []
    for match in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, re.S | re.M):
        if match.group(1) not in SHELL_BLOCKS:
            continue
        first_line = text[:match.start(2)].count("\n") + 1
        block = re.sub(r"\\\n", " ", match.group(2))
        for offset, line in enumerate(block.splitlines()):
            line = line.strip().removeprefix("$ ")
            if line:
                commands += split_commands(line, f"{name}:{first_line + offset}")
    without_blocks = re.sub(r"^```.*?^```", lambda block: "\n" * block.group(0).count("\n"), text, flags=re.S | re.M)
    for match in re.finditer(r"(?<!`)`([^`]+)`(?!`)", without_blocks):
        code = " ".join(match.group(1).split())
        if code.startswith(COMMAND_STARTS) and "..." not in code:
            line = without_blocks[:match.start()].count("\n") + 1
            commands += split_commands(code, f"{name}:{line}")
    return commands


def documentation_pages() -> list[Path]:
    """The README and the pages under docs/ that a fresh clone has (the generated reference is not one)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "README.md", "docs"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in listed if name.endswith(".md")]


def all_commands() -> list[Command]:
    seen, commands = set(), []
    for page in documentation_pages():
        for command in page_commands(page):
            if command.words not in seen:
                seen.add(command.words)
                commands.append(command)
    return commands


def is_ignored(path: str) -> bool:
    """Whether git ignores the path: a build output (docs/_build/html), never an input."""
    return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=ROOT).returncode == 0


def named_files(words) -> list[str]:
    """Arguments that name an input file of the repository."""
    names = []
    for word in words:
        value = word.split("=", 1)[1] if word.startswith("--") and "=" in word else word
        if value.startswith(REPOSITORY_INPUTS) and not is_ignored(value):
            names.append(value)
    return names


def run(arguments, cwd, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(arguments, cwd=cwd, capture_output=True, text=True, timeout=timeout)


# Options of snakemake that take values: one, or (the lists) every word up to the next option.
ONE_VALUE = {"--cores", "-c", "--jobs", "-j", "--directory", "-d", "--profile", "--workflow-profile", "--report",
             "--snakefile", "-s", "--sdm", "--apptainer-prefix", "--apptainer-args", "--latency-wait"}
LIST_VALUES = {"--configfile", "--configfiles", "--config", "-C", "--resources", "--res", "--set-resources",
               "--set-threads"}
# Options that change how the jobs run, not what they are: left out of a plan's key, so that commands differing
# only there share one dry run.
SCHEDULING = {"--cores", "-c", "--jobs", "-j", "--resources", "--res", "--report", "-n", "--dry-run"}


def snakemake_plan(words) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A snakemake command as (the options that decide its plan, its targets)."""
    options, targets, index = [], [], 0
    while index < len(words):
        word = words[index]
        if word in ONE_VALUE or word in LIST_VALUES:
            end = index + 2 if word in ONE_VALUE else next(
                (later for later in range(index + 1, len(words)) if words[later].startswith("-")), len(words))
            values = list(words[index + 1:end])
            if word in ("--configfile", "--configfiles") and values[:1] == ["config.yaml"] \
                    and not {"--directory", "-d"} & set(words):
                values = values[1:]  # the Snakefile loads config.yaml first anyway, from the same directory
            if word not in SCHEDULING and values:
                options += [word, *values]
            index = end
        elif word.startswith("-"):
            if word not in SCHEDULING:
                options.append(word)
            index += 1
        else:
            targets.append(word)
            index += 1
    return tuple(options), tuple(targets) or ("all",)


def check_snakemake_plans(commands: list[Command], checkout: Path) -> dict[Command, str]:
    """One dry run per distinct set of plan-deciding options, with every target that commands using it name."""
    plans: dict[tuple, list] = {}
    for command in commands:
        options, targets = snakemake_plan(command.words[1:])
        plans.setdefault(options, []).append((command, targets))

    def dry_run(options):
        targets = list(dict.fromkeys(target for _, command_targets in plans[options] for target in command_targets))
        return options, check_snakemake([*targets, *options], checkout)

    problems = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        failed = [options for options, problem in pool.map(dry_run, plans) if problem]
        # A plan that fails is retried command by command, to name the commands that break it.
        retries = [(command, [*targets, *options]) for options in failed for command, targets in plans[options]]
        for (command, _), problem in zip(retries, pool.map(lambda retry: check_snakemake(retry[1], checkout), retries)):
            if problem:
                problems[command] = problem
    return problems


def check_snakemake(arguments: list[str], checkout: Path) -> str | None:
    result = run([sys.executable, "-m", "snakemake", "--dry-run", "--cores", "1", *arguments], checkout)
    if result.returncode == 0:
        return None
    output = result.stdout + result.stderr
    # A comparison with another run (target chain_comparison) reads that run's results: the pages say to run it
    # first. A dry run without them fails on exactly those inputs, which lie outside its working directory.
    if "MissingInputException" in output:
        listing = output.split("affected files:", 1)[-1].splitlines()[1:]
        missing = [line.strip() for line in itertools.takewhile(lambda line: line.startswith((" ", "\t")), listing)]
        if missing and all(path.startswith("../") for path in missing):
            return None
    return output[-2500:]


def check_python(command: Command, checkout: Path) -> str | None:
    words = list(command.words[1:])
    if words[0] == "-m":
        target, rest = ["-m", words[1]], words[2:]
    else:
        target, rest = [words[0]], words[1:]
    subcommands = []
    for word in rest:
        if word.startswith("-"):
            break
        subcommands.append(word)
    result = run([sys.executable, *target, *subcommands, "--help"], checkout, timeout=300)
    if result.returncode != 0:
        return result.stdout[-1500:] + result.stderr[-1500:]
    unknown = [word.split("=")[0] for word in rest if word.startswith("--") and word != "--help"
               and word.split("=")[0] not in result.stdout]
    return f"options not in its --help: {unknown}" if unknown else None


def check_pip(command: Command, checkout: Path) -> str | None:
    extras = tomllib.loads((checkout / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for word in command.words[2:]:
        requirement = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", word)
        if word.startswith("-"):
            continue
        if requirement is None:
            return f"installs {word!r}, not this project"
        unknown = set((requirement.group(1) or "").split(",")) - set(extras) - {""}
        if unknown:
            return f"no extra {sorted(unknown)} in pyproject.toml (extras: {sorted(extras)})"
    return None


def check_program(command: Command, checkout: Path) -> str | None:
    program = shutil.which(command.words[0])
    if program is None:
        return f"{command.words[0]} is not on PATH"
    result = run([program, "--help"], checkout, timeout=120)
    return None if result.returncode == 0 else result.stderr[-1500:]


def missing_files(command: Command, checkout: Path) -> str | None:
    missing = [name for name in named_files(command.words) if not (checkout / name).exists()]
    return f"names files that do not exist: {missing}" if missing else None


def check(command: Command, checkout: Path) -> str | None:
    """None when the command works as documented, else why not."""
    missing = missing_files(command, checkout)
    if missing:
        return missing
    program = command.words[0]
    if program in SYSTEM_PROGRAMS or (program in SITE_PROGRAMS and shutil.which(program) is None):
        return None
    if program == "snakemake":
        return check_snakemake_plans([command], checkout).get(command)
    if program in ("python", "python3"):
        return check_python(command, checkout)
    if program == "pip":
        return check_pip(command, checkout)
    return check_program(command, checkout)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, fresh_checkout):
    """A copy of the repository's files (as a fresh clone has them), where dry runs may write .snakemake/."""
    return fresh_checkout(tmp_path_factory.mktemp("checkout"))


def test_pages_show_the_commands_users_run():
    commands = [str(command) for command in all_commands()]
    text = "\n".join(commands)
    assert len(commands) >= 30, text
    for expected in ("pip install -e .", "snakemake --cores all", "python -m pytest",
                     "snakemake cwola --cores all --resources gpu=1 --configfile presets/paper-cwola.yaml",
                     "python benchmarks/generator_stacks.py", "sphinx-autobuild docs docs/_build/html"):
        assert expected in text, expected


def test_every_documented_command_works(checkout):
    commands = all_commands()
    workflow = [command for command in commands if command.words[0] == "snakemake"]
    problems = check_snakemake_plans(workflow, checkout)
    for command in commands:  # the snakemake commands' plans are checked above, their files here
        problem = missing_files(command, checkout) if command.words[0] == "snakemake" else check(command, checkout)
        if problem:
            problems[command] = problem
    assert not problems, "\n".join(f"{command}\n    {problem}" for command, problem in problems.items())


def test_commands_that_differ_only_in_scheduling_share_a_plan():
    plan = snakemake_plan(["cwola", "--cores", "all", "--resources", "gpu=1", "--configfile", "presets/p.yaml"])
    assert plan == snakemake_plan(["-n", "cwola", "--configfile", "config.yaml", "presets/p.yaml"])
    assert plan == (("--configfile", "presets/p.yaml"), ("cwola",))
    assert snakemake_plan(["--profile", "profiles/slurm", "--workflow-profile", "none"]) == \
        (("--profile", "profiles/slurm", "--workflow-profile", "none"), ("all",))


def test_a_broken_command_is_caught(checkout):
    """The checks fail where a page goes stale: a renamed preset, a target or option that no longer exists."""
    renamed_preset = split_commands("snakemake cwola --cores all --configfile presets/paper-cwola-old.yaml", "page:1")[0]
    assert "do not exist" in check(renamed_preset, checkout)
    missing_target = split_commands("snakemake cohen2019 --cores all", "page:2")[0]
    assert "cohen2019" in check(missing_target, checkout)
    stale_option = split_commands("python benchmarks/generator_stacks.py --chunks 3", "page:3")[0]
    assert "--chunks" in check(stale_option, checkout)
    missing_module = split_commands("python -m workflow_scripts.studies.cwola.nothing --help", "page:4")[0]
    assert check(missing_module, checkout) is not None
    unknown_extra = split_commands('pip install -e ".[gpu]"', "page:5")[0]
    assert "gpu" in check(unknown_extra, checkout)


def test_commands_are_read_from_blocks_and_inline_code(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("Run `snakemake -n cwola\n--configfile x.yaml` or `config.yaml`.\n\n```bash\n"
                    "pip install -e . && snakemake --cores all \\\n    --configfile a.yaml   # a comment\n```\n"
                    "```yaml\nnot: a command\n```\n")
    found = [command.words for command in page_commands(page, root=tmp_path)]
    assert found == [("pip", "install", "-e", "."), ("snakemake", "--cores", "all", "--configfile", "a.yaml"),
                     ("snakemake", "-n", "cwola", "--configfile", "x.yaml")]

