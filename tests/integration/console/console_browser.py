#!/usr/bin/env python3
"""The web console in a real browser: Debian's chromium, headless, driven through chromedriver
by Selenium, against a canal-server with destinations "a" (s.a) and "b" (s.t) on a real MariaDB.
Started by console_test.cpp, which owns the servers; exits 0 when every check holds, else prints
the first that failed. A screenshot of each view is written to --screenshots."""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 30  # seconds a state may take to show; every wait ends as soon as it holds


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True, help="http://127.0.0.1:<operations port>")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--conf", required=True, help="the server's conf/ directory")
    p.add_argument("--db-port", required=True, type=int)
    p.add_argument("--screenshots", required=True)
    p.add_argument("--forwarder", required=True, help="http://127.0.0.1:<canal-forwarder's admin port>")
    return p.parse_args()


ARGS = parse_args()


def request(method, path, body=None, headers=None, base=None):
    data = None if body is None else json.dumps(body).encode()
    r = urllib.request.Request((base or ARGS.base) + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(r, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def status():
    code, body = request("GET", "/status")
    assert code == 200, f"/status answered {code}"
    return json.loads(body)


def destination(name):
    for d in status()["destinations"]:
        if d["name"] == name:
            return d
    return None


def sql(statement):
    subprocess.run(["mariadb", "-h127.0.0.1", f"-P{ARGS.db_port}", "-uroot", "-e", statement], check=True)


def wait_for(what, condition, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except StaleElementReferenceException:
            value = None  # the page redrew what the condition was reading (every 2 s): not yet
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400",
                 "--disable-gpu", "--no-first-run"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main():
    os.makedirs(ARGS.screenshots, exist_ok=True)
    driver = browser()
    try:
        run(driver)
        forwarder_page(driver)
    finally:
        driver.quit()
    print("console_browser: every check passed; screenshots in", ARGS.screenshots)


def run(driver):
    by_id = lambda i: driver.find_element(By.ID, i)  # noqa: E731
    visible = lambda i: by_id(i).is_displayed()  # noqa: E731
    shot = lambda name: driver.save_screenshot(os.path.join(ARGS.screenshots, name + ".png"))  # noqa: E731

    def text_of(i):
        # Read in one step in the page: the views are redrawn every 2 s, so an element handle
        # found first may be stale by the time its text is asked for.
        return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : '';", i)

    # Without credentials: the login and nothing else, and the API refuses.
    driver.get(ARGS.base + "/console/")
    wait_for("the login form", lambda: visible("login-view"))
    for view in ("server-view", "destination-view", "add-view", "nav"):
        assert not visible(view), f"{view} is shown before logging in"
    assert "following" not in driver.find_element(By.TAG_NAME, "body").text
    code, _ = request("GET", "/console/api/status")
    assert code == 401, f"the console's status without a session answered {code}"
    shot("01-login")

    by_id("login-user").send_keys(ARGS.user)
    by_id("login-password").send_keys("not the password")
    by_id("login-submit").click()
    wait_for("the wrong password refused", lambda: "wrong user or password" in text_of("login-message"))
    assert not visible("server-view")

    by_id("login-password").clear()
    by_id("login-password").send_keys(ARGS.password)
    by_id("login-submit").click()

    # The server view lists both destinations with their state and positions.
    def rows():
        out = {}
        for tr in driver.find_elements(By.CSS_SELECTOR, "#destinations tbody tr"):
            cells = [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
            out[tr.get_attribute("data-name")] = cells
        return out

    def listed_as_following():
        shown = rows()
        if set(shown) != {"a", "b"}:
            return False
        for name, cells in shown.items():
            d = destination(name)
            position = f"{d['position']['journalName']}:{d['position']['position']}" if d["position"] else "—"
            if cells[1] != "following" or cells[2] != d["runningAt"] or cells[4] != position:
                return False
        return True

    wait_for("a and b listed as following with /status's positions", listed_as_following)
    assert visible("server-view") and by_id("server-facts").text
    shot("02-server")

    # A row written to MariaDB shows in the destination's figures.
    before = destination("a")["rows"]
    sql("INSERT INTO s.a (v) VALUES (1), (2), (3)")
    driver.get(ARGS.base + "/console/#/d/a")
    wait_for("the destination view", lambda: visible("destination-view") and text_of("dest-name") == "a")
    wait_for("a's rows grown by 3 on the page", lambda: text_of("dest-rows").isdigit() and int(text_of("dest-rows")) >= before + 3)
    assert text_of("dest-state") == "following", text_of("dest-state")
    wait_for("a's log lines", lambda: text_of("logs") and text_of("logs") != "(no lines at this level)")
    shot("03-destination")

    # The log filtered by level: only errors and worse (or none) at "error".
    Select(by_id("log-level")).select_by_visible_text("error")
    wait_for("the log filtered to errors", lambda: all(
        re.search(r" (ERROR|CRITICAL) \[", line) for line in text_of("logs").splitlines()
    ) or text_of("logs") == "(no lines at this level)")
    Select(by_id("log-level")).select_by_visible_text("info")

    # Stopping b from the page stops it, as /status says; starting brings it back.
    driver.get(ARGS.base + "/console/#/d/b")
    wait_for("b's view", lambda: text_of("dest-name") == "b" and text_of("dest-state") == "following")
    by_id("action-stop").click()
    wait_for("b stopped in /status", lambda: destination("b")["state"] == "stopped" and not destination("b")["active"])
    wait_for("b shown stopped", lambda: text_of("dest-state") == "stopped")
    assert destination("a")["state"] == "following", "stopping b touched a"
    shot("04-stopped")
    by_id("action-start").click()
    wait_for("b following again in /status", lambda: destination("b")["state"] == "following")

    # An edit with a bad value is refused with the validator's message; the file is unchanged.
    driver.get(ARGS.base + "/console/#/d/a")
    wait_for("a's instance.properties", lambda: "canal.instance.master.address" in by_id("config-text").get_attribute("value"))
    path = os.path.join(ARGS.conf, "a", "instance.properties")
    with open(path, "rb") as f:
        saved = f.read()
    shown = by_id("config-text").get_attribute("value")
    assert "canal.instance.dbPassword = ******" in shown, "the password is not masked"
    assert "dbPassword = canal" not in shown, "the password is shown"
    bad = re.sub(r"canal.instance.mysql.slaveId = \d+", "canal.instance.mysql.slaveId = banana", shown)
    set_value(driver, "config-text", bad)
    by_id("config-save").click()
    wait_for("the bad edit refused", lambda: "Refused, nothing changed" in text_of("config-message"))
    assert "canal.instance.mysql.slaveId" in text_of("config-message"), text_of("config-message")
    with open(path, "rb") as f:
        assert f.read() == saved, "a refused edit changed the file"
    assert destination("a")["state"] == "following"
    shot("05-config-refused")

    # A good edit takes effect: a's filter now takes s.c too, and the file keeps its secret.
    since = destination("a")["since"]
    good = shown.replace("canal.instance.filter.regex = s\\\\.a", "# s.c added from the console\ncanal.instance.filter.regex = s\\\\.(a|c)")
    assert good != shown, "the filter line was not found in:\n" + shown
    set_value(driver, "config-text", good)
    by_id("config-check").click()
    wait_for("the good edit checked", lambda: "The server accepts this file." in text_of("config-message"))
    with open(path, "rb") as f:
        assert f.read() == saved, "a check changed the file"
    by_id("config-save").click()
    wait_for("the good edit saved", lambda: "Saved and applied." in text_of("config-message"))
    with open(path) as f:
        written = f.read()
    assert "# s.c added from the console" in written and "canal.instance.dbPassword = canal" in written, written
    wait_for("a restarted with the new file", lambda: destination("a")["since"] != since and destination("a")["state"] == "following")
    rows_a = destination("a")["rows"]
    sql("INSERT INTO s.c (v) VALUES (7)")
    wait_for("a row of s.c counted by a", lambda: destination("a")["rows"] >= rows_a + 1)

    # A snapshot started from the page reaches done.
    driver.get(ARGS.base + "/console/#/d/a")
    wait_for("a's view", lambda: text_of("dest-name") == "a")
    by_id("snapshot-tables").send_keys("s.nope")
    by_id("snapshot-start").click()
    wait_for("a snapshot of no table refused", lambda: "no table of the primary matches" in text_of("snapshot-message"))
    by_id("snapshot-tables").clear()
    by_id("snapshot-tables").send_keys("s.a")
    by_id("snapshot-start").click()
    wait_for("the snapshot started", lambda: "started: s.a" in text_of("snapshot-message"))
    wait_for("the snapshot done on the page", lambda: text_of("snapshot-state") == "done")
    assert destination("a")["snapshot"]["state"] == "done"
    shot("06-snapshot")

    # A destination added from the form starts.
    driver.get(ARGS.base + "/console/#/add")
    wait_for("the add form", lambda: visible("add-view"))
    by_id("add-name").send_keys("c")
    set_value(driver, "add-text", f"canal.instance.master.address = 127.0.0.1:{ARGS.db_port}\n"
                                  "canal.instance.dbUsername = canal\ncanal.instance.dbPassword = canal\n"
                                  "canal.instance.mysql.slaveId = 9123\ncanal.instance.filter.regex = s\\\\.c\n"
                                  "canal.instance.memory.buffer.size = seven\n")
    by_id("add-submit").click()
    wait_for("a bad new destination refused", lambda: "Refused, nothing changed" in text_of("add-message"))
    assert not os.path.exists(os.path.join(ARGS.conf, "c")), "a refused destination left files"
    set_value(driver, "add-text", by_id("add-text").get_attribute("value").replace("= seven", "= 1024"))
    by_id("add-submit").click()
    wait_for("c following in /status", lambda: destination("c") is not None and destination("c")["state"] == "following")
    wait_for("c's view", lambda: visible("destination-view") and text_of("dest-name") == "c")
    shot("07-added")

    # A state change without the CSRF token is refused, even with the session's cookie.
    cookie = driver.get_cookie("canal_console")
    assert cookie and cookie.get("httpOnly"), f"the session cookie is not HttpOnly: {cookie}"
    headers = {"Cookie": f"canal_console={cookie['value']}"}
    code, _ = request("POST", "/console/api/destinations/b/stop", headers=headers)
    assert code == 403, f"a stop without the CSRF token answered {code}"
    code, _ = request("POST", "/console/api/destinations/b/stop", headers=dict(headers, **{"X-CSRF-Token": "0" * 32}))
    assert code == 403, f"a stop with a wrong CSRF token answered {code}"
    assert destination("b")["state"] == "following", "a refused stop stopped b"

    # The rows written show in a's chart of the last hour (sampled every 10 s).
    driver.get(ARGS.base + "/console/#/d/a")
    code, body = request("GET", "/console/api/history", headers=headers)
    assert code == 200, f"history answered {code}"
    wait_for("a's rows per second above 0 in the history", lambda: any(
        p["rowsPerSecond"] > 0 for p in json.loads(request("GET", "/console/api/history", headers=headers)[1]).get("a", [])))
    wait_for("a's chart drawn", lambda: driver.find_elements(By.CSS_SELECTOR, "#dest-chart polyline.rows"))
    shot("08-chart")

    # Logging out ends the session.
    by_id("logout").click()
    wait_for("the login form after logout", lambda: visible("login-view") and not visible("destination-view"))
    code, _ = request("GET", "/console/api/status", headers=headers)
    assert code == 401, f"the ended session still reads status: {code}"


def forwarder_page(driver):
    """canal-forwarder's admin page: its figures and sinks, and a load of s.t started from it."""
    by_id = lambda i: driver.find_element(By.ID, i)  # noqa: E731
    shot = lambda name: driver.save_screenshot(os.path.join(ARGS.screenshots, name + ".png"))  # noqa: E731
    base = ARGS.forwarder
    driver.delete_all_cookies()
    driver.get(base + "/console/")
    wait_for("the forwarder's login", lambda: by_id("login-view").is_displayed())
    assert not by_id("forwarder-view").is_displayed()
    code, _ = request("GET", "/console/api/status", base=base)
    assert code == 401, f"the forwarder page's status without a session answered {code}"
    by_id("login-user").send_keys("ops")
    by_id("login-password").send_keys("wrong")
    by_id("login-submit").click()
    wait_for("the forwarder's wrong password refused", lambda: "wrong user or password" in by_id("login-message").text)
    by_id("login-password").clear()
    by_id("login-password").send_keys("secret-2")
    by_id("login-submit").click()
    wait_for("the forwarder's view", lambda: by_id("forwarder-view").is_displayed() and by_id("destination").text == "b")
    wait_for("the copy sink listed", lambda: any(
        tr.find_elements(By.TAG_NAME, "td")[0].text == "copy" for tr in driver.find_elements(By.CSS_SELECTOR, "#sinks tbody tr")))

    def count(table):
        out = subprocess.run(["mariadb", "-h127.0.0.1", f"-P{ARGS.db_port}", "-uroot", "-N", "-e",
                              f"SELECT COUNT(*) FROM {table}"], check=True, capture_output=True, text=True)
        return int(out.stdout.strip())

    # A load started from the page fills the copy with the rows written before the forwarder ran.
    Select(by_id("job-kind")).select_by_value("load")
    by_id("job-name").send_keys("s.nope")
    by_id("job-start").click()
    wait_for("a load of an unmapped table refused", lambda: by_id("job-message").text and "started" not in by_id("job-message").text)
    by_id("job-name").clear()
    by_id("job-name").send_keys("s.t")
    by_id("job-start").click()
    wait_for("the load started", lambda: "load of s.t started" in by_id("job-message").text)
    wait_for("the load done on the page", lambda: [
        tr for tr in driver.find_elements(By.CSS_SELECTOR, "#jobs tbody tr")
        if tr.get_attribute("data-job") == "load s.t" and tr.find_element(By.CLASS_NAME, "job-state").text == "done"])
    assert count("copy.t") == count("s.t") >= 5, (count("copy.t"), count("s.t"))
    sql("INSERT INTO s.t (v) VALUES (6)")
    wait_for("a live row copied", lambda: count("copy.t") == count("s.t"))
    wait_for("the rows on the page", lambda: by_id("rows").text.isdigit() and int(by_id("rows").text) >= 6)
    shot("09-forwarder")

    # Without the CSRF token a load is refused, even with the session's cookie.
    cookie = driver.get_cookie("canal_forwarder")
    assert cookie and cookie.get("httpOnly"), cookie
    code, _ = request("POST", "/console/api/load/s.t", headers={"Cookie": f"canal_forwarder={cookie['value']}"}, base=base)
    assert code == 403, f"a load without the CSRF token answered {code}"
    by_id("logout").click()
    wait_for("the forwarder's login after logout", lambda: by_id("login-view").is_displayed())


def set_value(driver, element_id, value):
    # Typing a whole file key by key is slow; set it as a paste would.
    driver.execute_script("document.getElementById(arguments[0]).value = arguments[1];", element_id, value)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("console_browser: FAILED:", e, file=sys.stderr)
        sys.exit(1)
