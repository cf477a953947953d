"""End-to-end console tests in headless Chromium (Selenium + Debian's chromium-driver).

Starts uvicorn on a free port in a thread against temporary SQLite stores seeded with
reads and alerts. Skips only when chromium / chromedriver are not installed
(``apt-get install -y chromium chromium-driver``).
"""

import os
import shutil
import socket
import threading
import time

import pytest

from governance_helpers import PASSWORD, add_user, bootstrap, make_gov, seed_alerts, seed_reads

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not (CHROMIUM and os.path.exists(CHROMEDRIVER)),
    reason="chromium and chromium-driver are not installed (apt-get install -y chromium chromium-driver)")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from alpr.governance.api import create_app

    d = tmp_path_factory.mktemp("console")
    gov = make_gov(clock=time.time, db_path=str(d / "gov.db"), read_path=str(d / "reads.db"))  # live server: real clock
    admin, _ = bootstrap(gov)
    op, op_secret = add_user(gov, admin, "ofc.browser", "operator")
    seed_reads(gov)
    seed_alerts(gov)
    port = _free_port()
    config = uvicorn.Config(create_app(governance=gov), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield {"url": f"http://127.0.0.1:{port}", "gov": gov, "secret": op_secret, "username": "ofc.browser"}
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000"):
        opts.add_argument(arg)
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.implicitly_wait(2)
    yield drv
    drv.quit()


def _click_and_wait(driver, element):
    """Click a submit button and wait until the next page has replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_):
        # chromedriver reports a node of the old page either as stale or, at times, as an
        # "inspector error: Node ... does not belong to the document": both mean the page changed
        try:
            page.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" in str(exc):
                return True
            raise

    WebDriverWait(driver, 15).until(replaced)


def _login(driver, server, code=None):
    from selenium.webdriver.common.by import By

    from alpr.governance.auth import totp_now

    driver.get(server["url"] + "/console/login")
    driver.find_element(By.ID, "username").send_keys(server["username"])
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "totp").send_keys(code if code is not None else totp_now(server["secret"]))
    _click_and_wait(driver, driver.find_element(By.ID, "login-submit"))


def test_login_requires_mfa_then_succeeds(server, driver):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    _login(driver, server, code="12345")  # 5 digits: never a valid TOTP
    assert "invalid" in driver.find_element(By.ID, "error").text
    _login(driver, server)
    assert driver.current_url.endswith("/console/search"), driver.page_source[:3000]
    assert "ofc.browser" in driver.find_element(By.ID, "whoami").text


def test_search_refused_without_purpose(server, driver):
    from selenium.webdriver.common.by import By

    driver.get(server["url"] + "/console/search")
    driver.find_element(By.ID, "plate_pattern").send_keys("7ABC*")
    driver.find_element(By.ID, "note").send_keys("just checking")
    _click_and_wait(driver, driver.find_element(By.ID, "search-submit"))
    assert "purpose code is required" in driver.find_element(By.ID, "error").text
    assert not driver.find_elements(By.ID, "results")


def test_search_with_purpose_appears_in_access_log(server, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(server["url"] + "/console/search")
    driver.find_element(By.ID, "plate_pattern").send_keys("7ABC*")
    Select(driver.find_element(By.ID, "purpose_code")).select_by_value("STOLEN-VEHICLE")
    driver.find_element(By.ID, "case_number").send_keys("C-UI-4242")
    _click_and_wait(driver, driver.find_element(By.ID, "search-submit"))
    assert driver.find_element(By.ID, "result-count").text.startswith("2 ")
    plates = sorted(e.text for e in driver.find_elements(By.CSS_SELECTOR, "#results td.plate"))
    assert plates == ["7ABC123", "7ABC124"]
    recs = [r for r in server["gov"].store.access_records()
            if r.action == "search_reads" and r.case_number == "C-UI-4242"]
    assert len(recs) == 1 and recs[0].channel == "ui" and recs[0].username == "ofc.browser"
    assert recs[0].purpose_code == "STOLEN-VEHICLE" and recs[0].data_elements["plate_pattern"] == "7ABC*"


def test_alert_taken_through_verification(server, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(server["url"] + "/console/alerts?purpose_code=HOTLIST-HIT&case_number=INC-UI-1")
    row = lambda: driver.find_element(By.ID, "alert-a1")
    assert row().find_element(By.CLASS_NAME, "state").text == "new"
    row().find_element(By.CLASS_NAME, "incident").send_keys("INC-UI-1")
    _click_and_wait(driver, row().find_element(By.CLASS_NAME, "ack"))
    assert row().find_element(By.CLASS_NAME, "state").text == "acknowledged"
    Select(row().find_element(By.CLASS_NAME, "system")).select_by_visible_text("CLETS")
    row().find_element(By.CLASS_NAME, "reference").send_keys("CLETS-UI-99")
    row().find_element(By.CLASS_NAME, "confirmed").click()
    row().find_element(By.CLASS_NAME, "visual").click()
    _click_and_wait(driver, row().find_element(By.CLASS_NAME, "verify"))
    assert row().find_element(By.CLASS_NAME, "state").text == "verified"
    assert "CLETS-UI-99 by ofc.browser" in row().text
    _click_and_wait(driver, row().find_element(By.CLASS_NAME, "accept"))
    assert row().find_element(By.CLASS_NAME, "state").text == "accepted"
    Select(row().find_element(By.CLASS_NAME, "disposition")).select_by_visible_text("ARREST")
    _click_and_wait(driver, row().find_element(By.CLASS_NAME, "dispose"))
    assert row().find_element(By.CLASS_NAME, "state").text == "disposed"
    wf = server["gov"].store.get_workflow("a1")
    assert wf.verified_by == "ofc.browser" and wf.verification_reference == "CLETS-UI-99"
    ui_steps = [r.action for r in server["gov"].store.access_records() if r.channel == "ui"
                and r.data_elements.get("alert_id") == "a1"]
    assert ui_steps == ["alert_acknowledged", "alert_verified", "alert_accepted", "alert_disposed"]


def test_public_page_needs_no_login(server, driver):
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(server["url"] + "/public")
    assert driver.find_element(By.ID, "policy-version").text
    assert "7ABC123" not in driver.page_source
