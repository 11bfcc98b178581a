#!/usr/bin/env python3
"""The house rules that a compiler does not check (docs/ARCHITECTURE.md, "Rooms"):
a room includes only itself and rooms below it, and no source file grows past ~600 lines.
Usage: check_layers.py [SOURCE_DIR]; exits 1 and names every violation."""
import pathlib
import re
import sys

# Lowest first; a file in room i may include rooms 0..i. main.cpp sits above them all.
ROOMS = ["base", "net", "protocols", "config", "backends", "dataplane", "status", "privsep", "app"]
MAX_LINES = 650
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    src = root / "src"
    problems = []
    for f in sorted(src.rglob("*")):
        if f.suffix not in (".h", ".cpp", ".in"):
            continue
        rel = f.relative_to(src)
        own = rel.parts[0] if len(rel.parts) > 1 else None
        if own is not None and own not in ROOMS:
            problems.append(f"src/{rel}: room '{own}' is not in the list of rooms (add it to ROOMS, in order)")
            continue
        rank = ROOMS.index(own) if own else len(ROOMS)
        text = f.read_text()
        for m in INCLUDE.finditer(text):
            room = m.group(1)
            line = text.count("\n", 0, m.start()) + 1
            if room not in ROOMS:
                problems.append(f"src/{rel}:{line}: includes unknown room '{room}'")
            elif ROOMS.index(room) > rank:
                problems.append(f"src/{rel}:{line}: room '{own}' includes '{room}', a room above it")
        lines = text.count("\n")
        if lines > MAX_LINES:
            problems.append(f"src/{rel}: {lines} lines (more than {MAX_LINES}): split it by concern")
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} problem(s); the rooms, lowest first: {' < '.join(ROOMS)}")
        return 1
    print("rooms and sizes OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
