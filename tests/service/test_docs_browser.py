"""The docs page in a real browser: headless Chromium against ``fanout serve``.

Chromium and its driver come from Debian's packages ``chromium`` and
``chromium-driver``; the test installs them with apt-get when they are missing
(as root, which CI is) and is skipped, with the reason, only when that is not
possible. Selenium is pointed at ``/usr/bin/chromedriver`` so it never tries to
download a driver, and the page loads its assets from the service itself, so
nothing here needs the internet.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server.test_cli import free_port, stop_group, wait_until_serving

pytestmark = pytest.mark.slow

FANOUT = [sys.executable, "-m", "flask_fanout.server.cli"]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 20  # seconds for any one thing to appear on the page

OPERATIONS = {
    ("GET", "/"),
    ("GET", "/is_prime/{numbers}"),
    ("POST", "/is_prime"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/notes/{n}"),  # a declared route
}


def _install_chromium() -> None:
    """apt-get install chromium chromium-driver, or skip saying why it cannot be done."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    if os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} missing, and only root can apt-get install")
    if shutil.which("apt-get") is None:
        pytest.skip("chromium is missing and this machine has no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    steps = [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "chromium", "chromium-driver"],
    ]
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.skip(f"{' '.join(step)} failed ({done.returncode}): {done.stderr[-500:]}")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("apt-get installed chromium but not /usr/bin/chromium and chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    _install_chromium()
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1280,2000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never fetch anything
        driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``fanout serve`` on 127.0.0.1 with a file source and a declared route; its base URL."""
    root = tmp_path_factory.mktemp("docs-service")
    (root / "notes.txt").write_text("hello from the docs test\n")
    config = root / "fanout.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [sources.notes]
            type = "file"
            path = "{root / "notes.txt"}"

            [routes.note]
            path = "/notes/<int:n>"
            sources = ["notes"]
            [routes.note.query.limit]
            type = "int"
            """
        )
    )
    port = free_port()
    env = {**os.environ, "FANOUT_CPU_BACKEND": "inline", "FANOUT_DATA_DIR": str(root / "data")}
    env.pop("FANOUT_CONFIG", None)
    process = subprocess.Popen(
        [*FANOUT, "serve", "--port", str(port), "--config", str(config), "--workers", "1"],
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base + "/healthz", process)
        yield base
    finally:
        stop_group(process)


def _listed_operations(driver: Any) -> set[tuple[str, str]]:
    from selenium.webdriver.common.by import By

    listed = set()
    for block in driver.find_elements(By.CSS_SELECTOR, ".opblock"):
        method = block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text
        path = block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute(
            "data-path"
        )
        listed.add((method.upper(), path))
    return listed


def _try_it_out(driver: Any, block_id: str, fill: dict[str, str]) -> tuple[str, Any]:
    """Open an operation, press "Try it out", fill the fields, Execute: (status, JSON body)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, WAIT)
    block = wait.until(ready.presence_of_element_located((By.ID, block_id)))
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    block.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    for selector, text in fill.items():
        field = wait.until(lambda _, s=selector: block.find_element(By.CSS_SELECTOR, s))
        field.clear()
        field.send_keys(text)
    block.find_element(By.CSS_SELECTOR, "button.execute").click()
    body_selector = ".live-responses-table .response-col_description pre"
    wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, body_selector))
    status = block.find_element(
        By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"
    ).text.strip()
    body = block.find_element(By.CSS_SELECTOR, body_selector).text
    return status, json.loads(body)


def test_docs_page_lists_the_endpoints_and_tries_them(
    service: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(service + "/docs")
    WebDriverWait(browser, WAIT).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= len(OPERATIONS)
    )
    assert "flask-fanout" in browser.find_element(By.CSS_SELECTOR, ".info .title").text
    assert _listed_operations(browser) >= OPERATIONS

    try:
        status, body = _try_it_out(
            browser,
            "operations-primes-isPrimeList",
            {'tr[data-param-name="numbers"] input': "2,3,4"},
        )
        assert status == "200"
        assert body == {"2": True, "3": True, "4": False}

        status, body = _try_it_out(
            browser,
            "operations-primes-isPrimeBatch",
            {".body-param textarea": '{"numbers": [7, "8", "0011"]}'},
        )
        assert status == "200"
        assert body == {
            "results": [
                {"n": "7", "prime": True},
                {"n": "8", "prime": False},
                {"n": "11", "prime": True},
            ]
        }

        status, body = _try_it_out(
            browser,
            "operations-routes-route_note",
            {'tr[data-param-name="n"] input': "7", 'tr[data-param-name="limit"] input': "3"},
        )
        assert status == "200"
        assert body["result_notes"] == "hello from the docs test\n" and body["errors"] == {}
    finally:
        browser.save_screenshot(str(tmp_path / "docs.png"))
