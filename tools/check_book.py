"""Checks the built guide (docs-book/book):

1. every relative link, anchor and image in every page resolves;
2. every page opens in headless Chromium (Debian's package, driven by
   Playwright) without a console error or an uncaught page error;
3. the search finds "pickle";
4. a screenshot of the Security page is saved for review.

Usage: python tools/check_book.py BOOK_DIR SCREENSHOT_PNG
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import pathlib
import shutil
import sys
import threading
import urllib.parse
from collections.abc import Iterator

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key == "id" and value:
                self.ids.add(value)
            if (tag, key) in (("a", "href"), ("img", "src")) and value:
                self.hrefs.append(value)


def _parse(page: pathlib.Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def check_links(book: pathlib.Path) -> list[str]:
    pages = {p: _parse(p) for p in book.rglob("*.html")}
    problems = []
    for page, parsed in pages.items():
        for href in parsed.hrefs:
            url = urllib.parse.urlsplit(href)
            if url.scheme or href.startswith("//") or href.startswith("mailto:"):
                continue  # external: not fetched (CI has no general network)
            target = (page.parent / urllib.parse.unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(book)}: {href}"
            if not target.exists():
                problems.append(f"{where} -> missing {target}")
            elif url.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else _parse(target).ids
                if urllib.parse.unquote(url.fragment) not in ids:
                    problems.append(f"{where} -> no #{url.fragment} in {target.name}")
    return problems


@functools.cache
def chromium() -> str:
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    sys.exit(
        "check_book: no Chromium found (looked for " + ", ".join(CHROMIUM_CANDIDATES) + "); "
        "`make chromium` installs Debian's package"
    )


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(book: pathlib.Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_Quiet, directory=str(book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def pages(book: pathlib.Path) -> Iterator[str]:
    for page in sorted(book.rglob("*.html")):
        rel = page.relative_to(book).as_posix()
        if rel in ("404.html", "toc.html"):
            continue
        yield rel


def check_in_browser(book: pathlib.Path, screenshot: pathlib.Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    server, base = serve(book)
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            count = 0
            for rel in pages(book):
                errors.clear()
                response = page.goto(f"{base}/{rel}", wait_until="load")
                if response is None or not response.ok:
                    problems.append(f"{rel}: HTTP {response.status if response else '?'}")
                page.wait_for_timeout(50)
                main = page.locator("main")
                if main.count() == 0 or not main.first.inner_text().strip():
                    problems.append(f"{rel}: rendered no content")
                problems += [f"{rel}: console: {e}" for e in errors]
                count += 1
            print(f"check_book: {count} pages opened in {chromium()}")

            page.goto(f"{base}/index.html", wait_until="load")
            page.keyboard.press("s")
            search = page.locator("input[type=search]")
            # The search runs on key events, as a reader types.
            search.first.press_sequentially("pickle", delay=20)
            results = page.locator("ul[id$=searchresults] li")
            try:
                results.first.wait_for(timeout=10_000)
            except Exception:
                problems.append("search: no results for 'pickle'")
            else:
                print(f"check_book: search finds 'pickle' on {results.count()} pages")

            page.goto(f"{base}/security.html", wait_until="load")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=False)
            print(f"check_book: screenshot of the Security page in {screenshot}")
            browser.close()
    finally:
        server.shutdown()
    return problems


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    book, screenshot = pathlib.Path(sys.argv[1]).resolve(), pathlib.Path(sys.argv[2])
    if not (book / "index.html").exists():
        sys.exit(f"check_book: {book} holds no built book: run `make docs` first")
    problems = check_links(book)
    print(f"check_book: links checked in {len(list(book.rglob('*.html')))} pages")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    problems += check_in_browser(book, screenshot)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    if problems:
        sys.exit(f"check_book: {len(problems)} problem(s)")
    print("check_book: ok")


if __name__ == "__main__":
    main()
