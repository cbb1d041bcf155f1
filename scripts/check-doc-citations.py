#!/usr/bin/env python3
"""Checks that code cites only documentation that ships with the repository.

Module docs, comments, migrations and manifests explain *why* by citing the project's own pages:
`docs/<page>.md "<Section heading>"`. This script fails when

- a file cites documentation that is not in the repository (notes outside the checkout, or a page
  named without its `docs/` directory, which a reader cannot resolve), or
- a citation names a page of `docs/` that does not exist, or a section heading that page does not
  have (so renaming a heading cannot silently orphan the comments that point at it).

Paths of test inputs that live beside the checkout (the seed API pages and real passport files,
installed by `.ci/run`) are data, not citations, and are allowed.

    scripts/check-doc-citations.py          exit 1 and list every problem as file:line: message

Standard library only; reads the source tree once, runs in well under a second.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Where citations live: the code, its manifests and migrations, CI and scripts, the READMEs.
SCAN = ["crates", "scripts", ".ci", "Cargo.toml", "README.md"]
SUFFIXES = {".rs", ".sql", ".toml", ".md", ".sh", ".py", ".mjs", ".js", ""}
SKIP_DIRS = {"target", "node_modules", ".git", "fuzz/corpus", "fuzz/artifacts"}
SELF = pathlib.Path(__file__).resolve()
# Migrations already released: sqlx stores a checksum of each applied file and refuses to start
# when its text changes, so their comments stay as written. Newer migrations are checked.
FROZEN = {
    f"crates/idgate-store/migrations/{dialect}/{name}"
    for dialect in ("sqlite", "postgres")
    for name in ("0001_initial.sql", "0002_webhook_delivery.sql", "0003_delivery_retry_window.sql")
}

# Notes that exist only outside the repository.
OUTSIDE = re.compile(
    r"shared/(?:spec|reference)\b|\bspec/[a-z-]+\.md|\bkayle-[a-z]+\.md|\brust-stack\.md|\baesthetics\.md"
)
# Test inputs beside the checkout (`shared/testdata`, `shared/seeds`) match none of these.
# A page name of docs/ used without its directory (`api.md "Conventions"`).
PAGE = re.compile(r"(?<![\w/.-])([a-z][a-z-]*\.md)\b")
# A citation with a heading on the same line: docs/api.md "Share contract" (backticks allowed).
CITATION = re.compile(r"docs/([a-z][a-z-]*\.md)`?,?\s+\"([^\"\n]+)\"")
# Any mention of a docs page, for the existence check.
DOCS_PAGE = re.compile(r"docs/([a-z][a-z-]*\.md)")


def normalise(heading):
    return re.sub(r"\s+", " ", heading.replace("`", "")).strip()


def headings_of(page):
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {normalise(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.M)}


def files():
    for name in SCAN:
        path = ROOT / name
        if path.is_file():
            yield path
            continue
        for file in sorted(path.rglob("*")):
            rel = file.relative_to(ROOT).as_posix()
            if not file.is_file() or file.resolve() == SELF or rel in FROZEN:
                continue
            if any(f"/{d}/" in f"/{rel}/" for d in SKIP_DIRS) or file.suffix not in SUFFIXES:
                continue
            yield file


def main():
    pages = {p.name: headings_of(p) for p in DOCS.glob("*.md")}
    own_pages = set(pages)
    problems = []
    for file in files():
        try:
            text = file.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        rel = file.relative_to(ROOT).as_posix()
        for number, line in enumerate(text.splitlines(), 1):
            where = f"{rel}:{number}"
            if OUTSIDE.search(line):
                problems.append(f"{where}: cites notes outside the repository: {line.strip()}")
                continue
            for match in PAGE.finditer(line):
                name = match.group(1)
                before = line[: match.start()]
                if name in own_pages and not before.endswith(("docs/", "../docs/")) and name != "README.md":
                    if before.endswith("[") and line[match.end():].startswith("]("):
                        continue  # the text of a Markdown link; its target is checked below
                    problems.append(f"{where}: `{name}` without `docs/`: {line.strip()}")
            for match in DOCS_PAGE.finditer(line):
                if match.group(1) not in pages:
                    problems.append(f"{where}: no page docs/{match.group(1)}")
            for match in CITATION.finditer(line):
                page, heading = match.group(1), normalise(match.group(2))
                if page in pages and heading not in pages[page]:
                    problems.append(f'{where}: docs/{page} has no section "{heading}"')
    for problem in problems:
        print(problem)
    if problems:
        print(f"check-doc-citations: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
