"""Headless Chromium for the report's tests: Debian's ``chromium`` and ``chromium-driver``
driven by Selenium (pointed at the packaged driver, so Selenium Manager downloads nothing), the
page's network switched off, console errors and every request recorded.

``Browser.open(path)`` loads a report from its file and waits until the page says it has drawn
itself (``<html data-ready>``). ``close()`` quits the driver and waits until every process it
started has gone, so the suite's leak check finds none.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import psutil
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000",
         # Every host name resolves nowhere: a request that slipped past the offline switch
         # could not reach anything either.
         "--host-resolver-rules=MAP * ~NOTFOUND")
LOAD_TIMEOUT = 120  # seconds: only a hung browser takes this long


def _require(path: str, what: str) -> None:
    if not Path(path).is_file():
        pytest.fail(f"{what} not found at {path}: install it with `apt-get install -y chromium "
                    f"chromium-driver` (.ci/run does this when it is missing)")


class Browser:
    """One headless Chromium with a fresh profile under ``profile``."""

    def __init__(self, profile: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        _require(CHROMIUM, "Chromium")
        _require(CHROMEDRIVER, "chromedriver")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                                       options=options)
        self._driver_pid = self.driver.service.process.pid
        self.driver.set_page_load_timeout(LOAD_TIMEOUT)
        self.driver.set_script_timeout(LOAD_TIMEOUT)
        self.cdp("Network.enable", {})
        self.cdp("Network.emulateNetworkConditions", {
            "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})

    def cdp(self, method: str, params: dict[str, Any]) -> Any:
        return self.driver.execute_cdp_cmd(method, params)

    def open(self, path: Path) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        self.console_errors()  # what the browser said before this page is not the page's
        self.network()
        self.driver.get(path.resolve().as_uri())
        WebDriverWait(self.driver, LOAD_TIMEOUT).until(
            lambda d: d.execute_script("return document.documentElement.dataset.ready === '1'"))

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def count(self, selector: str) -> int:
        return int(self.js("return document.querySelectorAll(arguments[0]).length", selector))

    def attrs(self, selector: str, *names: str) -> list[list[str | None]]:
        """For each element matching ``selector``, its attributes ``names``."""
        return list(self.js(
            "return [...document.querySelectorAll(arguments[0])]"
            ".map(e => arguments[1].map(n => e.getAttribute(n)))", selector, list(names)))

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def network(self) -> tuple[list[str], list[str]]:
        """(URLs requested, failures) since the last call, from the DevTools performance log."""
        urls, failures = [], []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
            elif message["method"] == "Network.loadingFailed":
                failures.append(json.dumps(message["params"]))
        return urls, failures

    def screenshot(self, path: Path) -> Path:
        """The whole page (not only the window) as a PNG."""
        size = self.js("return [document.documentElement.scrollWidth, "
                       "document.documentElement.scrollHeight]")
        shot = self.cdp("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        """Quit, then wait for (or kill) every process the driver started."""
        try:
            procs = [psutil.Process(self._driver_pid)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        try:
            self.driver.quit()
        finally:
            _, alive = psutil.wait_procs(procs, timeout=10)
            for p in alive:
                p.kill()
            psutil.wait_procs(alive, timeout=10)
