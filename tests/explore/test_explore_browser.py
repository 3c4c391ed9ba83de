"""The page in a real browser: headless Chromium driven by Selenium through Debian's chromedriver
(/usr/bin/chromedriver; Selenium never downloads one). Types a review, waits for the plot, checks the
coloured tokens, the readout and that HTML typed in the box runs nothing; screenshots at 1280x800 and
at a narrow width. Skipped when Chromium is missing, except under CI (the variable CI set), where
.ci/run installs it and its absence is a failure."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path("/tmp/explore_shots")


def _need_browser():
    missing = [p for p in (CHROMEDRIVER,) if not Path(p).exists()]
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        missing.append("chromium")
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install 'rnnlens[test]')")
    if missing:
        why = f"the browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(why + "; CI is set, so this is a failure, not a skip (.ci/run installs them)")
        pytest.skip(why)
    return browser


@pytest.fixture(scope="module")
def server(explore_models, serve):
    """The app as the CLI serves it on 127.0.0.1: Host checked against the loopback names with its port."""
    from rnnlens.explore.app import create_app
    from rnnlens.explore.guard import allowed_hosts

    port = serve(lambda port: create_app(explore_models, allowed_hosts=allowed_hosts("127.0.0.1", port)))
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def driver():
    browser = _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800"):
        opts.add_argument(a)
    d = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    yield d
    d.quit()


def _wait(driver, cond, timeout=20, what="condition"):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = driver.execute_script(cond)
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _shot(driver, tmp_path, name):
    path = tmp_path / name
    driver.save_screenshot(str(path))
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SHOTS / name)
    except OSError:
        pass
    assert path.stat().st_size > 10_000
    return path


def _type(driver, text):
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "review")
    box.clear()
    reads = int(driver.execute_script("return Number(document.body.getAttribute('data-reads')) || 0"))
    box.send_keys(text)
    _wait(driver, f"return (Number(document.body.getAttribute('data-reads')) || 0) > {reads}", what="the read")
    time.sleep(0.6)  # a second debounced read may follow the typing
    _wait(driver, "return document.getElementById('status').textContent === ''", what="reads to finish")


def test_page_reads_a_review(server, driver, tmp_path, explore_models):
    from selenium.webdriver.common.by import By

    driver.set_window_size(1280, 800)
    driver.get(server)
    _wait(driver, "return document.body.getAttribute('data-ready') === '1'", what="the page to load")
    n_models = len(explore_models)
    assert len(driver.find_elements(By.CSS_SELECTOR, ".panel")) == n_models
    _type(driver, "spos001 pos002 neu003 sneg004 what zzz the movie was not good but brilliant")
    panel = driver.find_element(By.CSS_SELECTOR, ".panel")
    toks = panel.find_elements(By.CSS_SELECTOR, ".tok")
    assert [t.text.rstrip("?") for t in toks][:4] == ["spos001", "pos002", "neu003", "sneg004"]
    bg = [t.value_of_css_property("background-color") for t in toks]
    assert bg[0] != bg[3] and "rgba(33, 102, 172" in bg[0] and "rgba(178, 24, 43" in bg[3]  # blue vs red
    assert "unk" in toks[5].get_attribute("class")  # zzz: unknown
    assert "measured push along the line" in toks[0].get_attribute("title")
    assert "linearized prediction" in toks[0].get_attribute("title")
    # the plot is drawn (plotly's svg with the trajectory) and the readout is shown
    _wait(
        driver,
        "return document.querySelectorAll('.panel .plot.traj .scatterlayer .trace').length >= 3",
        what="the trajectory plot",
    )
    _wait(
        driver,
        "return document.querySelectorAll('.panel .plot.probs .scatterlayer .trace').length >= 1",
        what="the readout plot",
    )
    readout = panel.find_element(By.CSS_SELECTOR, ".readout-now").text
    assert readout.startswith("After 13 token(s): P(negative) = ") and "P(positive)" in readout
    driver.execute_script("window.scrollTo(0, 0)")
    _shot(driver, tmp_path, "explore_1280x800.png")
    lists = driver.find_element(By.ID, "word-lists").text
    assert "most positive" in lists and "most neutral" in lists
    word = driver.find_element(By.ID, "word-input")
    word.send_keys("spos001")
    _wait(driver, "return document.getElementById('word-result').textContent.includes('push')", what="word lookup")
    logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    assert not logs, logs
    _shot(driver, tmp_path, "explore_word_panel.png")


def test_typed_html_runs_nothing_and_shows_as_text(server, driver, tmp_path):
    from selenium.webdriver.common.by import By

    driver.set_window_size(1280, 800)
    driver.get(server)
    _wait(driver, "return document.body.getAttribute('data-ready') === '1'", what="the page to load")
    payload = (
        '<script>window.__xss=1</script> <img src=x onerror="window.__xss=2"> '
        '<svg onload="window.__xss=3"> " onmouseover="window.__xss=4" \'><b>bold</b>'
    )
    _type(driver, payload)
    word = driver.find_element(By.ID, "word-input")
    word.send_keys('<img src=x onerror="window.__xss=5">')
    time.sleep(1.0)
    for t in driver.find_elements(By.CSS_SELECTOR, ".tok")[:5]:
        driver.execute_script("arguments[0].dispatchEvent(new MouseEvent('mouseover', {bubbles: true}))", t)
    time.sleep(0.3)
    assert driver.execute_script("return window.__xss") is None
    assert (
        driver.execute_script(
            "return document.querySelectorAll('#panels img, #panels script, #panels b, "
            "#word-result img, #word-panel b').length"
        )
        == 0
    )
    text = driver.find_element(By.CSS_SELECTOR, ".panel .tokens").text
    assert "<" in text and "script" in text and "onerror" in text
    driver.execute_script("window.scrollTo(0, 0)")
    _shot(driver, tmp_path, "explore_xss.png")


def test_layout_stays_usable_when_narrow(server, driver, tmp_path):
    from selenium.webdriver.common.by import By

    driver.set_window_size(420, 900)
    driver.get(server)
    _wait(driver, "return document.body.getAttribute('data-ready') === '1'", what="the page to load")
    _type(driver, "pos001 neu002 " + "averyveryverylongwordwithoutanyspaces" * 8 + " neg003")
    _wait(
        driver,
        "return document.querySelectorAll('.panel .plot.traj .scatterlayer .trace').length >= 3",
        what="the trajectory plot",
    )
    over = driver.execute_script(
        "const m = document.getElementById('main');"
        "return [m.scrollWidth, m.clientWidth, document.documentElement.scrollWidth, window.innerWidth];"
    )
    assert over[0] <= over[1] + 1 and over[2] <= over[3] + 1, over
    box = driver.find_element(By.ID, "review").rect
    assert box["width"] > 300
    for p in driver.find_elements(By.CSS_SELECTOR, ".panel"):
        assert p.rect["x"] >= 0 and p.rect["x"] + p.rect["width"] <= over[3] + 1
    _shot(driver, tmp_path, "explore_narrow_420.png")
