"""End-to-end console tests in headless Chromium (Selenium + Debian's chromium-driver).

Starts uvicorn on a free port in a thread against temporary SQLite stores seeded with
reads and alerts. Skips only when chromium / chromedriver are not installed
(``apt-get install -y chromium chromium-driver``).
"""

import dataclasses
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


def _synthetic_frame(read) -> bytes:
    """A 640x360 grey frame with a white plate box where the read's polygon is."""
    import io

    from PIL import Image, ImageDraw
    img = Image.new("RGB", (640, 360), (90, 90, 90))
    ImageDraw.Draw(img).rectangle((300, 200, 400, 240), fill=(255, 255, 255))
    out = io.BytesIO()
    img.save(out, "JPEG")
    return out.getvalue()


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
    admin, admin_secret = bootstrap(gov)
    # the agency's second supervisor: approves what the administrator creates (two-person rule)
    deputy, deputy_secret = gov.auth.bootstrap_admin("deputy.dhspd", admin.agency, PASSWORD, role="designee")
    op, op_secret = add_user(gov, admin, "ofc.browser", "operator")
    seed_reads(gov)
    seed_alerts(gov)
    gov.evidence.image_loader = _synthetic_frame
    a2 = next(a for a in gov.reads.get_alerts(agency=admin.agency) if a.alert_id == "a2")
    from governance_helpers import read as _read
    gov.reads.put_reads([dataclasses.replace(_read("r-a2", a2.read_plate, ts=a2.capture_ts),
                                             coordinates=((300, 200), (400, 200), (400, 240), (300, 240)))],
                        ttl_s=365 * 86_400)
    from alpr.governance.search import SearchCriteria
    gov.evidence.place_hold(op, "C-UI-HOLD", "robbery", SearchCriteria(plate_pattern="8XYZ*"))
    port = _free_port()
    config = uvicorn.Config(create_app(governance=gov), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield {"url": f"http://127.0.0.1:{port}", "gov": gov, "secret": op_secret, "username": "ofc.browser",
           "admin": admin.username, "admin_secret": admin_secret, "deputy": deputy.username,
           "deputy_secret": deputy_secret}
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


# ---------------------------------------------------------------------------------------------
# Issue 12 item 10: the screens a records supervisor works in.
def _login_as(driver, server, username, secret):
    from selenium.webdriver.common.by import By

    from alpr.governance.auth import totp_now
    driver.delete_all_cookies()
    driver.get(server["url"] + "/console/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "totp").send_keys(totp_now(secret))
    _click_and_wait(driver, driver.find_element(By.ID, "login-submit"))
    assert username in driver.find_element(By.ID, "whoami").text


def test_supervisor_creates_an_account_the_holder_enrols_then_approval_and_training(server, driver):
    from selenium.webdriver.common.by import By

    _login_as(driver, server, server["admin"], server["admin_secret"])
    driver.find_element(By.ID, "nav-users").click()
    driver.find_element(By.ID, "new_username").send_keys("ofc.newhire")
    _click_and_wait(driver, driver.find_element(By.ID, "user-create"))
    link = driver.find_element(By.ID, "link").text
    assert "/console/enrol?token=" in link and "ofc.newhire" in driver.find_element(By.ID, "enrol-link").text
    row = lambda: driver.find_element(By.ID, "user-ofc.newhire")
    assert "not enrolled" in row().find_element(By.CLASS_NAME, "status").text
    # the holder opens the link (no session needed) and sets a password; only they see the secret
    driver.get(link)
    driver.find_element(By.ID, "enrol_pw").send_keys("the new hire's own passphrase")
    driver.find_element(By.ID, "enrol_pw2").send_keys("the new hire's own passphrase")
    _click_and_wait(driver, driver.find_element(By.ID, "enrol-submit"))
    secret = driver.find_element(By.ID, "totp-secret").text
    assert len(secret) >= 16
    stored = server["gov"].store.get_user("ofc.newhire")
    assert stored.password_hash.startswith("$argon2id$") and secret not in stored.totp_secret
    # its creator may not approve it (two-person rule); the other supervisor approves and trains
    driver.get(server["url"] + "/console/users")
    _click_and_wait(driver, row().find_element(By.CLASS_NAME, "approve"))
    assert "two-person rule" in driver.find_element(By.ID, "error").text
    assert "not enrolled" not in row().find_element(By.CLASS_NAME, "status").text
    assert server["gov"].store.get_user("ofc.newhire").status == "pending"
    admin_cookies = driver.get_cookies()
    _login_as(driver, server, server["deputy"], server["deputy_secret"])
    driver.get(server["url"] + "/console/users")
    _click_and_wait(driver, row().find_element(By.CLASS_NAME, "approve"))
    row().find_element(By.CLASS_NAME, "course").send_keys("ALPR operator course")
    _click_and_wait(driver, row().find_element(By.CLASS_NAME, "train"))
    assert row().find_element(By.CLASS_NAME, "status").text == "active"
    assert row().find_element(By.CLASS_NAME, "training").text == "current"
    driver.delete_all_cookies()  # back to the administrator's session (the next tests use it)
    for cookie in admin_cookies:
        driver.add_cookie(cookie)


def test_alert_view_shows_plate_crop_hit_details_and_ncic_clock(server, driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(server["url"] + "/console/alerts/a2")
    assert driver.find_element(By.ID, "hit-plate").text == "8XYZ999"
    clock = driver.find_element(By.ID, "ncic-clock").text
    assert "routine: 1 h" in clock and ("remaining" in clock or "OVERDUE" in clock)
    img = driver.find_element(By.ID, "plate-crop")
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return arguments[0].complete;", img))
    w, h = driver.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight];", img)
    assert 0 < w < 640 and 0 < h < 360, (w, h)  # a crop, not the frame
    tz = driver.find_element(By.ID, "hit-time").text
    assert tz.endswith(("PST", "PDT")), tz  # the agency's time zone
    assert "America/Los_Angeles" in driver.find_element(By.ID, "tz").text


def test_access_log_is_a_filterable_paged_table(server, driver):
    from selenium.webdriver.common.by import By

    driver.get(server["url"] + "/console/audit")
    total = int(driver.find_element(By.ID, "log-pages").text.split()[0])
    assert total > 0
    driver.find_element(By.ID, "f_action").send_keys("login")
    _click_and_wait(driver, driver.find_element(By.ID, "f_submit"))
    actions = {e.text for e in driver.find_elements(By.CSS_SELECTOR, "#access-log td.action")}
    assert actions == {"login"}
    n_login = int(driver.find_element(By.ID, "log-pages").text.split()[0])
    assert 0 < n_login < total
    driver.get(server["url"] + "/console/audit?page=1")
    if total > 50:
        assert len(driver.find_elements(By.CSS_SELECTOR, "tr.log-row")) == 50
        _click_and_wait(driver, driver.find_element(By.ID, "next-page"))
        assert "page 2 of" in driver.find_element(By.ID, "log-pages").text


def test_evidence_export_button_downloads_a_verified_zip(server, driver):
    import base64
    import io

    from selenium.webdriver.common.by import By

    from alpr.governance.evidence import verify_evidence_zip
    driver.get(server["url"] + "/console/retention")
    button = driver.find_element(By.ID, "export-C-UI-HOLD")
    status, ctype, b64 = driver.execute_async_script("""
        var form = arguments[0].form, done = arguments[1];
        fetch(form.action, {method: 'POST', body: new FormData(form), credentials: 'same-origin'})
          .then(r => r.arrayBuffer().then(b => {
             var s = '', a = new Uint8Array(b); for (var i = 0; i < a.length; i++) s += String.fromCharCode(a[i]);
             done([r.status, r.headers.get('content-type'), btoa(s)]); }));""", button)
    assert status == 200 and ctype == "application/zip"
    assert verify_evidence_zip(io.BytesIO(base64.b64decode(b64))) == []
    assert any(r.action == "evidence_export" and r.channel == "ui" for r in server["gov"].store.access_records())


def test_openapi_page_is_local_and_its_authorize_button_works(server, driver):
    import secrets
    import time

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from alpr.governance.auth import hash_token
    from alpr.governance.models import Session
    gov = server["gov"]
    token, now = secrets.token_urlsafe(32), time.time()
    gov.store.put_session(Session(hash_token(token), server["admin"], now, now + 3600, now, "api"))
    driver.get(server["url"] + "/docs")
    WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "button.authorize"))
    srcs = driver.execute_script("return Array.from(document.querySelectorAll('script[src],link[href]'))"
                                 ".map(e => e.src || e.href);")
    assert srcs and all(u.startswith(server["url"]) for u in srcs), srcs  # no CDN
    driver.find_element(By.CSS_SELECTOR, "button.authorize").click()
    box = WebDriverWait(driver, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, ".modal-ux input"))
    box.send_keys(token)
    driver.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper button.authorize").click()
    driver.find_element(By.CSS_SELECTOR, ".modal-ux button.btn-done").click()
    op = driver.find_element(By.ID, "operations-auth-me_api_auth_me_get")
    op.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    WebDriverWait(driver, 10).until(lambda d: op.find_elements(By.CSS_SELECTOR, "button.try-out__btn"))
    op.find_element(By.CSS_SELECTOR, "button.try-out__btn").click()
    WebDriverWait(driver, 10).until(lambda d: op.find_elements(By.CSS_SELECTOR, "button.execute"))
    op.find_element(By.CSS_SELECTOR, "button.execute").click()
    status = WebDriverWait(driver, 15).until(
        lambda d: [e for e in op.find_elements(By.CSS_SELECTOR, ".live-responses-table .response-col_status")
                   if e.text.strip() and e.text.strip() != "Code"])
    assert status[0].text.strip().startswith("200"), status[0].text
    assert server["admin"] in op.find_element(By.CSS_SELECTOR, ".live-responses-table").text
