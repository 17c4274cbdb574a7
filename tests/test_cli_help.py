"""`--help` is complete (every flag says what it does) and the README's commands match the parser."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

from harness.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_flag_of_every_command_has_a_help_line():
    missing = []
    for name, sub in _subparsers(build_parser()).items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, missing


def test_top_level_help_names_devices_setup_and_discover():
    text = build_parser().format_help()
    assert "devices setup" in text and "devices discover" in text


def _readme_commands() -> list[str]:
    """Lines of the README's code blocks that start with `harness COMMAND`."""
    # Every fence pairs with the next one, whatever its language tag (a ```text block of printed output must
    # not shift the pairing); only shell blocks hold commands.
    blocks = re.findall(r"```(\w*)\n(.*?)```", README.read_text(), flags=re.S)
    return [line.strip() for lang, b in blocks if lang in ("", "bash", "sh", "console")
            for line in b.splitlines() if line.strip().startswith("harness ")]


def test_readme_commands_match_help():
    subs = _subparsers(build_parser())
    lines = _readme_commands()
    named = {line.split()[1] for line in lines}
    assert named == set(subs), (named ^ set(subs))  # every command shown, none invented
    unknown = []
    for line in lines:
        cmd = line.split()[1]
        flags = {o for a in subs[cmd]._actions for o in a.option_strings}
        first = subs[cmd]._get_positional_actions()[:1]
        words = line.split("#", 1)[0].split()
        if first and first[0].choices and len(words) > 2 and not words[2].startswith(("-", "[")):
            for word in words[2].split("|"):  # `devices discover`, `import vcgencmd|dumpsys_battery`
                if word not in first[0].choices:
                    unknown.append(f"{cmd} {word}")
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line.split("#", 1)[0]):
            if flag not in flags:
                unknown.append(f"{cmd} {flag}")
    assert not unknown, unknown
