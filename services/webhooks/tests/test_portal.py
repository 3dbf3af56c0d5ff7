"""The partner portal as a partner uses it, in a real headless Chromium driven by Selenium:
signing in, adding an endpoint and seeing its secret once, sending a test event that the
dispatcher delivers, replaying it with the same ``webhook-id``; and what keeps partners
apart: another partner's endpoint is a not-found page, a wrong key signs nobody in, a POST
without the session's CSRF token is refused, a suspended partner's session stops working;
the cookie's attributes, the pages' headers, and the audit record of what a partner did.

Selenium is synchronous, so webhooks runs on a real uvicorn server on a thread of its own
(its own event loop, its own migrated database, its dispatcher running), and so does the
receiver (the partner's server). Partners are made through the admin API over HTTP. Without
``chromium`` and ``chromedriver`` the tests fail, saying what to install: they never skip.
"""

import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.routing import Route

from devstack import run_sync
from devstack.chromium import INSTALL
from kit.db import Database
from kit.testing.plugin import MigratedDatabaseFactory
from kit.testing.servers import serving_in_thread
from kit.testing.services import rows
from kit.testing.tokens import TokenMinter
from services.webhooks.app import create_app
from services.webhooks.portal import COOKIE, PREFIX, SECURITY_HEADERS, SIGN_IN_REFUSED
from services.webhooks.tests.conftest import settings_for
from services.webhooks.tests.support import Receiver

WAIT_SECONDS = 20.0
CHROME_ARGUMENTS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")


@dataclass(frozen=True)
class Stack:
    base_url: str
    receiver: Receiver
    admin: dict[str, str]
    database_url: str

    @property
    def portal(self) -> str:
        return f"{self.base_url}{PREFIX}"


@dataclass(frozen=True)
class PartnerApp:
    id: str
    slug: str
    portal_key: str


@pytest.fixture(scope="module")
async def stack(
    migrated_database_factory: MigratedDatabaseFactory, minter: TokenMinter
) -> AsyncIterator[Stack]:
    url = await migrated_database_factory("webhooks")
    receiver = Receiver()
    receiving = Starlette(routes=[Route("/hooks/{name}", receiver.handle, methods=["POST"])])
    with serving_in_thread(receiving, "webhooks-portal-receiver") as receiver_url:
        receiver.base_url = receiver_url
        app = create_app(settings_for(url), token_verifier=minter.verifier())
        with serving_in_thread(app, "webhooks-portal") as base_url:
            admin = minter.headers(uuid.uuid4(), ("admin",))
            yield Stack(base_url, receiver, admin, url)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        found = (("chromium", chromium), ("chromedriver", chromedriver))
        missing = [name for name, path in found if path is None]
        pytest.fail(
            f"the portal's browser tests need {' and '.join(missing)}, not found: {INSTALL}",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    for argument in CHROME_ARGUMENTS:
        options.add_argument(argument)
    options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        yield driver
    finally:
        driver.quit()


# --- helpers -----------------------------------------------------------------------------


def new_partner(stack: Stack) -> PartnerApp:
    slug = f"p-{uuid.uuid4().hex[:12]}"
    body = {"slug": slug, "name": f"Partner {slug}", "contact_email": f"{slug}@example.com"}
    response = httpx.post(f"{stack.base_url}/v1/partner-apps", json=body, headers=stack.admin)
    assert response.status_code == 201, response.text
    created = response.json()
    return PartnerApp(created["partner"]["id"], slug, created["portal_key"])


def new_endpoint(stack: Stack, partner: PartnerApp, url: str) -> str:
    response = httpx.post(
        f"{stack.base_url}/v1/partner-apps/{partner.id}/endpoints",
        json={"url": url, "event_types": ["referrals.funnel.*"]},
        headers=stack.admin,
    )
    assert response.status_code == 201, response.text
    endpoint_id: str = response.json()["endpoint"]["id"]
    return endpoint_id


def set_status(stack: Stack, partner: PartnerApp, status: str) -> None:
    response = httpx.patch(
        f"{stack.base_url}/v1/partner-apps/{partner.id}",
        json={"status": status},
        headers=stack.admin,
    )
    assert response.status_code == 200, response.text


def hook_name() -> str:
    return uuid.uuid4().hex


def sign_in(browser: WebDriver, stack: Stack, slug: str, portal_key: str) -> None:
    browser.get(stack.portal)
    browser.find_element(By.NAME, "partner").send_keys(slug)
    browser.find_element(By.NAME, "portal_key").send_keys(portal_key)
    navigate(browser, browser.find_element(By.CSS_SELECTOR, "#sign-in button[type=submit]"))


def navigate(browser: WebDriver, element: WebElement) -> None:
    """Click ``element`` (a submit button or a link) and wait until the next page loaded."""
    page = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, WAIT_SECONDS).until(lambda _: replaced(page))


def replaced(page: WebElement) -> bool:
    """Whether ``page`` is gone: stale, or (Chromium, mid-navigation) no longer in the
    document, which its driver says with a plain WebDriverException."""
    try:
        page.is_enabled()
    except WebDriverException:  # StaleElementReferenceException is one too
        return True
    return False


def by_id(browser: WebDriver, element_id: str) -> WebElement:
    return browser.find_element(By.ID, element_id)


def absent(browser: WebDriver, selector: str) -> bool:
    return not browser.find_elements(By.CSS_SELECTOR, selector)


def reload_until(browser: WebDriver, check: Callable[[], bool], what: str) -> None:
    """Reload the page (a GET: every POST redirected) until ``check`` holds."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            if check():
                return
        except NoSuchElementException:
            pass
        assert time.monotonic() < deadline, f"the page never showed {what}:\n{browser.page_source}"
        time.sleep(0.2)
        browser.refresh()


def wait_for_requests(receiver: Receiver, hook: str, count: int) -> list[Any]:
    deadline = time.monotonic() + WAIT_SECONDS
    while len(receiver.received[hook]) < count:
        assert time.monotonic() < deadline, f"{hook} got {len(receiver.received[hook])} requests"
        time.sleep(0.05)
    return receiver.received[hook]


def audited(stack: Stack, partner: PartnerApp) -> list[tuple[str, str]]:
    """``(action, subject)`` of the audit records of ``partner``'s doings, oldest first."""

    async def read() -> list[tuple[str, str]]:
        database = Database(stack.database_url, service="webhooks")
        try:
            found = await rows(
                database,
                "SELECT action, subject_id FROM audit_records WHERE actor_id = :actor ORDER BY at",
                actor=uuid.UUID(partner.id),
            )
        finally:
            await database.dispose()
        return [(row.action, row.subject_id) for row in found]

    return run_sync(read())


def delivery_row(browser: WebDriver, message_id: str) -> WebElement:
    return browser.find_element(By.CSS_SELECTOR, f"tr.delivery[data-message-id='{message_id}']")


def attempts_of(browser: WebDriver, message_id: str) -> list[WebElement]:
    selector = f"tr.attempts-of[data-message-id='{message_id}'] tr.attempt"
    return browser.find_elements(By.CSS_SELECTOR, selector)


@contextmanager
def http_session(stack: Stack, partner: PartnerApp) -> Iterator[tuple[httpx.Client, str]]:
    """A client signed in as ``partner`` (its cookie) and the CSRF token of its pages."""
    with httpx.Client(base_url=stack.portal) as http:
        signed_in = http.post(
            "/sign-in", data={"partner": partner.slug, "portal_key": partner.portal_key}
        )
        assert signed_in.status_code == 303, signed_in.text
        assert signed_in.headers["location"] == f"{PREFIX}/endpoints"
        page = http.get("/endpoints")
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None, page.text
        yield http, found.group(1)


# --- as a partner uses it ----------------------------------------------------------------


def test_a_partner_adds_an_endpoint_sees_its_secret_once_tests_and_replays_it(
    stack: Stack, browser: WebDriver
) -> None:
    partner = new_partner(stack)
    hook = hook_name()
    sign_in(browser, stack, partner.slug, partner.portal_key)
    assert browser.current_url == f"{stack.portal}/endpoints"
    assert by_id(browser, "no-endpoints").is_displayed()
    assert partner.slug in browser.find_element(By.TAG_NAME, "header").text

    form = by_id(browser, "add-endpoint")
    form.find_element(By.NAME, "url").send_keys(stack.receiver.url(hook))
    form.find_element(By.NAME, "description").send_keys("<b>bold</b> & co")
    form.find_element(By.NAME, "patterns").send_keys("referrals.funnel.*")
    assert form.find_element(By.CSS_SELECTOR, "input[name=signing][value=hmac]").is_selected()
    navigate(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))

    # the secret, once: the page the POST redirected to shows it, a reload does not
    assert re.fullmatch(rf"{stack.portal}/endpoints/[0-9a-f-]{{36}}/secret", browser.current_url)
    secret = by_id(browser, "secret").text
    assert secret.startswith("whsec_")
    browser.refresh()
    assert by_id(browser, "already-shown").is_displayed()
    assert secret not in browser.page_source

    navigate(browser, by_id(browser, "to-endpoint"))
    assert by_id(browser, "endpoint-url").text == stack.receiver.url(hook)
    assert by_id(browser, "endpoint-status").text == "enabled"
    assert "referrals.funnel.*" in by_id(browser, "subscriptions").text
    # escaped, not markup
    assert "<b>bold</b> & co" in browser.find_element(By.TAG_NAME, "main").text
    assert absent(browser, "main b")

    navigate(browser, by_id(browser, "send-test"))
    assert by_id(browser, "notice").text == "A test event is queued."
    reload_until(
        browser,
        lambda: (
            browser.find_element(By.CSS_SELECTOR, "tr.delivery .delivery-status").text
            == "succeeded"
        ),
        "the test event delivered",
    )
    row = browser.find_element(By.CSS_SELECTOR, "tr.delivery")
    message_id = row.get_attribute("data-message-id") or ""
    assert message_id.startswith("msg_")
    assert "webhooks.test.v1" in row.text
    [first] = attempts_of(browser, message_id)
    assert "200" in first.find_element(By.CLASS_NAME, "attempt-result").text

    [received] = wait_for_requests(stack.receiver, hook, 1)
    event = Webhook(secret).verify(received.body, received.headers)
    assert event["type"] == "webhooks.test.v1"
    assert received.webhook_id == message_id

    navigate(
        browser, delivery_row(browser, message_id).find_element(By.CSS_SELECTOR, "button.replay")
    )
    assert by_id(browser, "notice").text == "Queued again: 1."
    reload_until(
        browser,
        lambda: (
            len(attempts_of(browser, message_id)) == 2
            and delivery_row(browser, message_id)
            .find_element(By.CLASS_NAME, "delivery-status")
            .text
            == "succeeded"
        ),
        "a second attempt",
    )
    replayed = wait_for_requests(stack.receiver, hook, 2)
    assert [request.webhook_id for request in replayed] == [message_id, message_id]
    assert Webhook(secret).verify(replayed[1].body, replayed[1].headers) == event
    # every reload was a GET: nothing was sent a third time
    time.sleep(0.5)
    assert len(stack.receiver.received[hook]) == 2


def test_an_ed25519_endpoint_shows_its_public_key_which_the_key_set_publishes(
    stack: Stack, browser: WebDriver
) -> None:
    partner = new_partner(stack)
    sign_in(browser, stack, partner.slug, partner.portal_key)
    form = by_id(browser, "add-endpoint")
    form.find_element(By.NAME, "url").send_keys(stack.receiver.url(hook_name()))
    form.find_element(By.CSS_SELECTOR, "input[name=event_types]").click()
    form.find_element(By.CSS_SELECTOR, "input[name=signing][value=ed25519]").click()
    navigate(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))

    public_key = by_id(browser, "public-key").text
    key_id = by_id(browser, "key-id").text
    assert absent(browser, "#secret")
    keys = httpx.get(f"{stack.base_url}/v1/webhook-keys").json()["keys"]
    assert {"kid": key_id, "x": public_key}.items() <= next(
        key for key in keys if key["kid"] == key_id
    ).items()


def test_the_add_form_shows_a_refused_url_or_pattern_again_with_the_reason(
    stack: Stack, browser: WebDriver
) -> None:
    partner = new_partner(stack)
    sign_in(browser, stack, partner.slug, partner.portal_key)
    for url, pattern, reason in (
        ("http://169.254.169.254/latest/meta-data", "referrals.funnel.*", "may not be called"),
        (stack.receiver.url(hook_name()), "referrals.nothing.*", "no partner event type"),
    ):
        form = by_id(browser, "add-endpoint")
        form.find_element(By.NAME, "url").clear()
        form.find_element(By.NAME, "url").send_keys(url)
        form.find_element(By.NAME, "patterns").clear()
        form.find_element(By.NAME, "patterns").send_keys(pattern)
        navigate(browser, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        assert reason in by_id(browser, "error").text
        assert (
            by_id(browser, "add-endpoint").find_element(By.NAME, "url").get_attribute("value")
            == url
        )
    browser.get(f"{stack.portal}/endpoints")
    assert by_id(browser, "no-endpoints").is_displayed()


def test_the_event_types_page_documents_them_with_examples_and_links(
    stack: Stack, browser: WebDriver
) -> None:
    partner = new_partner(stack)
    sign_in(browser, stack, partner.slug, partner.portal_key)
    navigate(browser, browser.find_element(By.LINK_TEXT, "Event types"))
    lead = by_id(browser, "type-referrals.funnel.lead_created.v1")
    assert "outbound" in lead.text
    example = lead.find_element(By.TAG_NAME, "pre").text
    assert '"type": "referrals.funnel.lead_created.v1"' in example
    links = {link.get_attribute("href") for link in browser.find_elements(By.TAG_NAME, "a")}
    documents = ("/v1/webhook-event-types", "/v1/webhook-keys")
    assert {f"{stack.base_url}{path}" for path in documents} <= links
    assert browser.find_elements(By.CSS_SELECTOR, "section.event-type")


# --- what keeps partners apart -----------------------------------------------------------


def test_another_partners_endpoint_is_not_found_and_never_listed(
    stack: Stack, browser: WebDriver
) -> None:
    a, b = new_partner(stack), new_partner(stack)
    b_hook = hook_name()
    b_url = stack.receiver.url(b_hook)
    b_endpoint = new_endpoint(stack, b, b_url)
    a_endpoint = new_endpoint(stack, a, stack.receiver.url(hook_name()))
    sign_in(browser, stack, a.slug, a.portal_key)

    listed = {
        row.get_attribute("data-endpoint-id")
        for row in browser.find_elements(By.CSS_SELECTOR, "tr.endpoint")
    }
    assert listed == {a_endpoint}
    assert b_url not in browser.page_source

    for path in (f"/endpoints/{b_endpoint}", f"/endpoints/{b_endpoint}/secret"):
        browser.get(f"{stack.portal}{path}")
        assert by_id(browser, "not-found").text == "Not found"
        assert b_url not in browser.page_source
        assert b_hook not in browser.page_source
    browser.get(f"{stack.portal}/endpoints/{uuid.uuid4()}")
    assert by_id(browser, "not-found").is_displayed()
    browser.get(f"{stack.portal}/endpoints/not-an-id")
    assert by_id(browser, "not-found").is_displayed()

    # A's own session and CSRF token act on A's endpoints only
    browser.get(f"{stack.portal}/endpoints")
    cookie = browser.get_cookie(COOKIE)
    assert cookie is not None
    csrf = browser.find_element(By.NAME, "csrf").get_attribute("value")
    with httpx.Client(base_url=stack.portal, cookies={COOKIE: cookie["value"]}) as http:
        for action in ("test", "replay", "rotate", "enable"):
            refused = http.post(f"/endpoints/{b_endpoint}/{action}", data={"csrf": csrf})
            assert refused.status_code == 404, (action, refused.text)
            assert b_url not in refused.text
        own = http.post(f"/endpoints/{a_endpoint}/test", data={"csrf": csrf})
        assert own.status_code == 303
        # a message of A's endpoint is not one of B's
        found = re.search(r"msg_[0-9a-f]{32}", http.get(f"/endpoints/{a_endpoint}").text)
        assert found is not None
        replay = http.post(
            f"/endpoints/{b_endpoint}/replay", data={"csrf": csrf, "message_id": found.group(0)}
        )
        assert replay.status_code == 404
    time.sleep(0.5)
    assert stack.receiver.received[b_hook] == []


def test_a_wrong_portal_key_shows_the_form_with_an_error_and_sets_no_cookie(
    stack: Stack, browser: WebDriver
) -> None:
    partner = new_partner(stack)
    for slug, key in ((partner.slug, "pk_wrong"), ("no-such-partner", partner.portal_key)):
        sign_in(browser, stack, slug, key)
        assert by_id(browser, "error").text == SIGN_IN_REFUSED
        assert by_id(browser, "sign-in").is_displayed()
        assert browser.get_cookies() == []
        refused = httpx.post(f"{stack.portal}/sign-in", data={"partner": slug, "portal_key": key})
        assert refused.status_code == 401
        assert "set-cookie" not in refused.headers
        assert SIGN_IN_REFUSED in refused.text
    browser.get(f"{stack.portal}/endpoints")
    assert browser.current_url == stack.portal


def test_a_post_without_the_csrf_token_is_refused(stack: Stack) -> None:
    partner = new_partner(stack)
    hook = hook_name()
    endpoint = new_endpoint(stack, partner, stack.receiver.url(hook))
    with http_session(stack, partner) as (http, csrf):
        for data in ({}, {"csrf": ""}, {"csrf": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}):
            refused = http.post(f"/endpoints/{endpoint}/test", data=data)
            assert refused.status_code == 403, refused.text
            added = http.post("/endpoints", data={**data, "url": stack.receiver.url(hook_name())})
            assert added.status_code == 403
            assert http.post("/sign-out", data=data).status_code == 403
        time.sleep(0.5)
        assert stack.receiver.received[hook] == []
        assert http.post(f"/endpoints/{endpoint}/test", data={"csrf": csrf}).status_code == 303
        wait_for_requests(stack.receiver, hook, 1)
        listed = httpx.get(
            f"{stack.base_url}/v1/partner-apps/{partner.id}/endpoints", headers=stack.admin
        )
        assert [item["id"] for item in listed.json()["items"]] == [endpoint]


def test_the_session_cookie_and_the_pages_headers(stack: Stack) -> None:
    partner = new_partner(stack)
    with httpx.Client(base_url=stack.portal) as http:
        anonymous = http.get("/endpoints")
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == PREFIX
        signed_in = http.post(
            "/sign-in", data={"partner": partner.slug, "portal_key": partner.portal_key}
        )
        cookie = signed_in.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", f"path={PREFIX}", "max-age=3600"} <= attributes
        assert "secure" not in attributes  # the tests' settings: plain http on loopback
        pages = ("", "/endpoints", "/event-types", f"/endpoints/{uuid.uuid4()}", "/endpoints/x")
        for path in pages:
            page = http.get(f"{stack.portal}{path}")
            for name, value in SECURITY_HEADERS.items():
                assert page.headers[name] == value, (path, name)
        page = http.get("/endpoints")
        assert page.headers["content-security-policy"] == (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
            "frame-ancestors 'none'"
        )
        assert page.headers["cache-control"] == "no-store"
        assert "<script" not in page.text
    paths = httpx.get(f"{stack.base_url}/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(PREFIX)]


def test_a_suspended_partners_session_stops_working(stack: Stack) -> None:
    partner = new_partner(stack)
    with http_session(stack, partner) as (http, _):
        set_status(stack, partner, "suspended")
        assert http.get("/endpoints").headers["location"] == PREFIX
        again = http.post(
            "/sign-in", data={"partner": partner.slug, "portal_key": partner.portal_key}
        )
        assert again.status_code == 401
        set_status(stack, partner, "active")
        # the session begun before the suspension stays signed out
        assert http.get("/endpoints").status_code == 303
    with http_session(stack, partner) as (fresh, _):
        assert fresh.get("/endpoints").status_code == 200


def test_signing_out_ends_the_session(stack: Stack, browser: WebDriver) -> None:
    partner = new_partner(stack)
    sign_in(browser, stack, partner.slug, partner.portal_key)
    cookie = browser.get_cookie(COOKIE)
    assert cookie is not None
    navigate(browser, browser.find_element(By.XPATH, "//button[normalize-space()='Sign out']"))
    assert browser.current_url == stack.portal
    assert by_id(browser, "sign-in").is_displayed()
    assert browser.get_cookie(COOKIE) is None
    stolen = httpx.get(f"{stack.portal}/endpoints", cookies={COOKIE: cookie["value"]})
    assert stolen.status_code == 303


def test_portal_actions_are_audited_as_the_partner_and_a_rotation_shows_the_new_secret(
    stack: Stack,
) -> None:
    partner = new_partner(stack)
    hook = hook_name()
    with http_session(stack, partner) as (http, csrf):
        added = http.post(
            "/endpoints",
            data={"csrf": csrf, "url": stack.receiver.url(hook), "patterns": "referrals.*"},
        )
        assert added.status_code == 303, added.text
        secret_page = added.headers["location"]
        endpoint = secret_page.removeprefix(f"{PREFIX}/endpoints/").removesuffix("/secret")
        first = http.get(f"{stack.base_url}{secret_page}")
        found = re.search(r"whsec_[A-Za-z0-9+/=]+", first.text)
        assert found is not None, first.text
        assert re.search(r"whsec_", http.get(f"{stack.base_url}{secret_page}").text) is None

        assert http.post(f"/endpoints/{endpoint}/test", data={"csrf": csrf}).status_code == 303
        replayed = http.post(f"/endpoints/{endpoint}/replay", data={"csrf": csrf})
        assert replayed.headers["location"].endswith("?done=replay&queued=0")
        rotated = http.post(f"/endpoints/{endpoint}/rotate", data={"csrf": csrf})
        assert rotated.headers["location"] == secret_page
        new = re.search(r"whsec_[A-Za-z0-9+/=]+", http.get(f"{stack.base_url}{secret_page}").text)
        assert new is not None
        assert new.group(0) != found.group(0)
        page = http.get(f"/endpoints/{endpoint}").text
        keys = httpx.get(
            f"{stack.base_url}/v1/webhook-endpoints/{endpoint}", headers=stack.admin
        ).json()["keys"]
        # the old key signs beside the new one for the overlap; the page lists both
        assert [key["retires_at"] is None for key in keys] == [True, False]
        assert all(key["id"] in page for key in keys)
        assert http.post("/sign-out", data={"csrf": csrf}).status_code == 303

    [received] = wait_for_requests(stack.receiver, hook, 1)
    Webhook(found.group(0)).verify(received.body, received.headers)
    assert audited(stack, partner) == [
        ("portal.sign_in", partner.id),
        ("portal.create", endpoint),
        ("portal.test", endpoint),
        ("portal.replay", endpoint),
        ("portal.rotate", endpoint),
        ("portal.sign_out", partner.id),
    ]


def test_a_partner_enables_its_disabled_endpoint(stack: Stack, browser: WebDriver) -> None:
    partner = new_partner(stack)
    endpoint = new_endpoint(stack, partner, stack.receiver.url(hook_name()))
    disabled = httpx.post(
        f"{stack.base_url}/v1/webhook-endpoints/{endpoint}/disable", headers=stack.admin
    )
    assert disabled.status_code == 200, disabled.text
    sign_in(browser, stack, partner.slug, partner.portal_key)
    navigate(
        browser,
        browser.find_element(By.CSS_SELECTOR, f"tr.endpoint[data-endpoint-id='{endpoint}'] a"),
    )
    assert by_id(browser, "endpoint-status").text.startswith("disabled (admin")
    navigate(browser, by_id(browser, "enable"))
    assert by_id(browser, "notice").text == "The endpoint is enabled."
    assert by_id(browser, "endpoint-status").text == "enabled"
    assert absent(browser, "#enable")
    assert ("portal.enable", endpoint) in audited(stack, partner)
