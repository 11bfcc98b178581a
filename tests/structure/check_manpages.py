#!/usr/bin/env python3
"""The man pages (docs/man/): `mandoc -T lint` and `man --warnings` find nothing to complain about,
and udpx.toml(5) documents every key the loader accepts (the k*Keys tables of src/config/), each
as a tagged paragraph of its section. Usage: check_manpages.py REPO_DIR
"""

import os
import re
import shutil
import subprocess
import sys

PAGES = ("udpx.8", "udpx.toml.5")


def lint(path):
    problems = []
    mandoc = shutil.which("mandoc")
    if mandoc is None:
        return [f"mandoc not installed: run `make deps-test` (tools/install-deps.sh test)"]
    done = subprocess.run([mandoc, "-T", "lint", "-W", "warning", path], capture_output=True, text=True, timeout=60)
    out = (done.stdout + done.stderr).strip()
    if done.returncode != 0 or out:
        problems.append(f"mandoc -T lint {path}:\n{out}")
    # What lintian runs: groff's warnings through man(1).
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
    done = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path], capture_output=True,
                          text=True, timeout=60, env=env)
    if done.returncode != 0 or done.stderr.strip():
        problems.append(f"man --warnings {path}:\n{done.stderr.strip()}")
    return problems


def config_keys(repo):
    """{section: [keys]} from the loader's key tables."""
    text = ""
    for name in sorted(os.listdir(os.path.join(repo, "src", "config"))):
        with open(os.path.join(repo, "src", "config", name)) as f:
            text += f.read()
    keys = {}
    for table, section in (("kGlobalKeys", "[global]"), ("kFrontendKeys", "[frontend.NAME]"),
                           ("kBackendKeys", "[backend.NAME]"), ("kHealthKeys", "[backend.NAME.health]")):
        m = re.search(r"\b" + table + r"\[\]\s*=\s*\{([^}]*)\}", text)
        if not m:
            raise SystemExit(f"cannot find {table} in src/config/")
        keys[section] = re.findall(r'"([a-z_]+)"', m.group(1))
    return keys


def documented_keys(page_text):
    """{section: set of keys} as written in udpx.toml(5): `.SH "[section]"` then `.TP` / `.BR key ...`."""
    sections, current, previous = {}, None, ""
    for line in page_text.splitlines():
        m = re.match(r'^\.SH "(\[.*\])"', line)
        if m:
            current = m.group(1)
            sections[current] = set()
        elif line.startswith(".SH"):
            current = None
        elif current and previous == ".TP":
            m = re.match(r"^\.BR? (\S+)", line)
            if m:
                sections[current].add(m.group(1).replace("\\-", "-"))
                # A paragraph may cover two keys: ".BR resolve_min " = " ... ", " resolve_max ..."
                sections[current].update(re.findall(r'", " ([a-z_]+) "', line))
        previous = line.strip()
    return sections


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    problems = []
    for page in PAGES:
        problems += lint(os.path.join(repo, "docs", "man", page))
    with open(os.path.join(repo, "docs", "man", "udpx.toml.5")) as f:
        documented = documented_keys(f.read())
    for section, keys in config_keys(repo).items():
        for key in keys:
            if section == "[backend.NAME]" and key == "health":
                continue  # its own section
            if key not in documented.get(section, set()):
                problems.append(f"udpx.toml.5: {section} {key} is accepted by the loader but not documented")
    for p in problems:
        print(p)
    print(f"{len(problems)} problem(s) in the man pages" if problems else "man pages OK")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
