"""mkdocs hook: the site serves mermaid's script itself, so its diagrams render offline.

mkdocs-material draws each ```mermaid block with the page's global ``mermaid``, and loads
the script from a CDN only when no page script defined it. This hook takes mermaid's own
build (``mermaid.min.js``) from an installed package, ``mermaidx`` (a dev dependency that
ships it unchanged), copies it into the site, and adds it to the pages that hold a
diagram (the others do not load its 3.5 MB). tests/test_docs_site.py checks the result in
headless Chromium with the network off.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

#: Where the script lands in the site.
SCRIPT = "assets/javascripts/mermaid.min.js"
#: The package that ships it, and the file inside the package (read through the package's
#: installed file list, so mermaidx itself is never imported).
PACKAGE, PACKAGED_SCRIPT = "mermaidx", "mermaidx/assets/mermaid.js"

_BUNDLE = re.compile(r'<script src="[^"]*assets/javascripts/bundle\.[^"]*"></script>')


def mermaid_script() -> Path:
    """The installed ``mermaid.min.js``; ``PluginError`` saying what to install if absent."""
    try:
        path = Path(str(metadata.distribution(PACKAGE).locate_file(PACKAGED_SCRIPT)))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise PluginError(
            f"mermaid's script ({PACKAGED_SCRIPT}) is not installed, so the site's diagrams "
            f"cannot be served offline: install the dev dependencies (`make install`, "
            f"or pip install -e '.[dev]'), which bring the {PACKAGE} package"
        )
    return path


def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, SCRIPT, abs_src_path=str(mermaid_script())))
    return files


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    if '<pre class="mermaid"' not in output:
        return output
    tag = f'<script src="{get_relative_url(SCRIPT, page.url)}"></script>'
    # Before the theme's bundle: it looks for the global ``mermaid`` when the page has
    # loaded, and fetches the CDN copy only if that global is missing.
    bundle = _BUNDLE.search(output)
    at = bundle.start() if bundle else output.rindex("</body>")
    return output[:at] + tag + output[at:]
