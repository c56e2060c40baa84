"""`bourg completion bash|zsh`: a completion script made from the CLI's own parser, so it
never lists an option the commands do not have.

    eval "$(bourg completion bash)"      # in ~/.bashrc
    eval "$(bourg completion zsh)"       # in ~/.zshrc (through bashcompinit)
"""

from __future__ import annotations

import argparse


def _subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in p._actions:  # argparse has no public walk over its tree
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(p: argparse.ArgumentParser) -> list[str]:
    return sorted(o for a in p._actions for o in a.option_strings if o.startswith("--"))


def words(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    """What may follow each command path: "" for bourg itself, "deploy", "provision add"..."""
    table: dict[str, list[str]] = {}

    def walk(prefix: str, p: argparse.ArgumentParser) -> None:
        subs = _subparsers(p)
        table[prefix] = sorted(subs) + _options(p)
        for name, sp in subs.items():
            walk(f"{prefix} {name}".strip(), sp)

    walk("", parser)
    return table


def bash_script(parser: argparse.ArgumentParser) -> str:
    cases = "\n".join(f'        "{path}") opts="{" ".join(ws)}" ;;'
                      for path, ws in sorted(words(parser).items()))
    return f'''_bourg() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" path="" w i
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        [[ $w == -* ]] && continue
        case "$path $w" in
{_known_paths(parser)}
        esac
    done
    local opts=""
    case "$path" in
{cases}
    esac
    if [[ $cur == -* || -n $opts ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    fi
    [[ ${{#COMPREPLY[@]}} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))
    return 0
}}
complete -F _bourg bourg
'''


def _known_paths(parser: argparse.ArgumentParser) -> str:
    """Case arms that extend the command path only with real subcommand names, so option
    values and file names do not ("$path $w" is " deploy" at the top, "provision add" below)."""
    return "\n".join(f'            "{p if " " in p else " " + p}") path="{p}" ;;'
                      for p in sorted(words(parser)) if p)
