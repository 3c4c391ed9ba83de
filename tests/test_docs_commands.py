"""The shell commands in the documentation name real ``rnnlens`` subcommands and only options those subcommands
have: every ``rnnlens SUBCOMMAND --option`` in a fenced bash / console / shell / text block of README.md and
docs/**/*.md is checked against the click commands of :mod:`rnnlens.cli` (line continuations with ``\\``
joined; ``[--a X | --b]`` synopses read as options too). Renaming an option without the docs fails here."""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from rnnlens.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
SHELL_LANGUAGES = {"bash", "console", "shell", "sh", "text", ""}
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$",
    re.M | re.S,
)
# words that may stand before `rnnlens` in a command: wrappers, and the launchers that pass their arguments on
WRAPPERS = {"nohup", "time", "exec", "sudo", "env", "command", "uv", "run", "./run.sh", "run.sh", "python", "-m"}
SEPARATORS = {"|", "||", "&&", ";", "(", ")", "&", "$("}
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_]*$")  # `rnnlens COMMAND --help`


@dataclass(frozen=True)
class Use:
    """One ``rnnlens`` command found in a fenced block: where, the subcommand, the options it names."""

    where: str
    command: str | None  # None: options of the group itself (rnnlens --version)
    options: tuple[str, ...]


def fenced_shell_blocks(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of each fenced block of a shell-like language (or none) in a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start("body")) + 1, m.group("body"))
        for m in FENCE.finditer(text)
        if m.group("lang").lower() in SHELL_LANGUAGES
    ]


def logical_lines(block: str, first_line: int):
    """(line number, line) with backslash continuations joined; a prompt (``$ ``) is dropped."""
    pending, start = "", first_line
    for n, raw in enumerate(block.splitlines(), first_line):
        if not pending:
            start = n
        line = raw.rstrip()
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1] + " "
            continue
        yield start, re.sub(r"^\s*(?:\(\S+\)\s*)?[$%]\s+", "", pending + line)
        pending = ""
    if pending:
        yield start, pending


def words(line: str) -> list[str]:
    """Shell words of ``line`` without its comment; separators (``|``, ``&&``, ``;``, ...) as words of their own."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;()")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote in an output line: plain words, comment cut
        return re.sub(r"(^|\s)#.*", "", line).split()


def uses(line: str, where: str) -> list[Use]:
    """Each ``rnnlens`` command of a logical shell line: ``rnnlens`` where a command starts (the line's start,
    after a separator, an environment assignment or a wrapper), then its words up to the next separator; a
    ``|`` inside ``[...]`` is a synopsis's alternative, not a pipe."""
    found, ws, i = [], words(line), 0
    at_start = True
    while i < len(ws):
        w = ws[i]
        if w in SEPARATORS:
            at_start, i = True, i + 1
            continue
        if at_start and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w) or w in WRAPPERS or w.endswith("/python")):
            i += 1
            continue
        if at_start and (w == "rnnlens" or w.endswith("/rnnlens")):
            depth, j, args = 0, i + 1, []
            while j < len(ws) and not (ws[j] in SEPARATORS and not (ws[j] == "|" and depth > 0)):
                depth += ws[j].count("[") - ws[j].count("]")
                args.append(ws[j])
                j += 1
            found.append(_use(args, where))
            i, at_start = j, False
            continue
        at_start, i = False, i + 1
    return found


def _use(args: list[str], where: str) -> Use:
    """The subcommand (the first word that is not an option) and every option word of ``args``."""
    options, command = [], None
    for k, a in enumerate(args):
        a = a.strip("[]{}")
        if re.match(r"^--?[A-Za-z]", a):
            options.append(a.split("=", 1)[0])
        elif command is None and k == 0:
            command = a
    return Use(where, command, tuple(options))


def all_uses(files: list[Path]) -> list[Use]:
    out = []
    for path in files:
        for first, block in fenced_shell_blocks(path):
            for n, line in logical_lines(block, first):
                name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                out.extend(uses(line, f"{name}:{n}"))
    return out


def _names(command: click.Command) -> set[str]:
    """Every option name of ``command`` as ``rnnlens`` runs it (``-h`` / ``--help`` from the group's settings)."""
    parent = cli.context_class(cli, info_name="rnnlens", **cli.context_settings)
    ctx = parent if command is cli else command.context_class(command, info_name=command.name, parent=parent)
    return {o for p in command.get_params(ctx) if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}


def problems(found: list[Use]) -> list[str]:
    """What is wrong with each use: an unknown subcommand, an option its subcommand does not have."""
    commands = {name: _names(c) for name, c in cli.commands.items()}
    every = set.intersection(*commands.values())
    out = []
    for use in found:
        if use.command is None:
            known, name = _names(cli), "rnnlens"
        elif PLACEHOLDER.match(use.command):
            known, name = every, f"rnnlens {use.command}"
        elif use.command in commands:
            known, name = commands[use.command], f"rnnlens {use.command}"
        else:
            out.append(
                f"{use.where}: `rnnlens {use.command}`: no such command (commands: {', '.join(sorted(commands))})"
            )
            continue
        out += [f"{use.where}: `{name}` has no option {o}" for o in use.options if o not in known]
    return out


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_every_rnnlens_command_in_the_docs_names_real_options():
    started = time.perf_counter()
    found = all_uses(doc_files())
    wrong = problems(found)
    seconds = time.perf_counter() - started
    assert not wrong, "the docs name commands or options rnnlens does not have:\n" + "\n".join(wrong)
    # the check reads something: the commands of the guides are found with their options
    commands = {u.command for u in found}
    assert {"demo", "explore", "sweep", "train", "analyze"} <= commands, commands
    assert any(u.command == "sweep" and "--address" in u.options for u in found)
    assert seconds < 1.0, f"the check took {seconds:.2f} s"


@pytest.mark.parametrize(
    "text, wrong",
    [
        # a renamed option, also after a continuation line and inside a synopsis's [ | ]
        ("```bash\nrnnlens sweep s.toml -o out --adress auto\n```", ["has no option --adress"]),
        ("```console\n$ rnnlens train --dataset imdb \\\n    --hidden-sise 64\n```", ["has no option --hidden-sise"]),
        ("```bash\nrnnlens explore CKPT [--host H | --prot 0]   # a synopsis\n```", ["has no option --prot"]),
        ("```text\nRNNLENS_DATA_DIR=d nohup rnnlens analyse run -o out\n```", ["no such command"]),
        ("```bash\nrnnlens demo && rnnlens report out --output r\n```", ["`rnnlens report` has no option --output"]),
        # what is not a command of rnnlens is left alone
        ("```bash\npip install 'rnnlens[sweep]' --upgrade  # rnnlens sweep --nothing\n```", []),
        ("```text\nerror: rnnlens did not write the file --at all\n```", []),
        ("```python\nrnnlens train --nothing\n```", []),
        (
            "```bash\nrnnlens COMMAND --help\nrnnlens --version\nrnnlens demo -h\n"
            "./run.sh rnnlens demo --n-docs 5 -o x\n```",
            [],
        ),
    ],
)
def test_the_check_fails_on_a_planted_wrong_command_or_option(tmp_path, text, wrong):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n" + text + "\n", encoding="utf-8")
    got = problems(all_uses([page]))
    assert len(got) == len(wrong) and all(w in g for w, g in zip(wrong, got)), got
