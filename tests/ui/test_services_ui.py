"""Services in JupyterLab, driven as a person would, on a real platform:
create a service from a command through the form (a wrong field named as you
type), watch it become ready, send a request from the try-it panel and read
the answer and its latency, follow a replica's log, and see the traffic split
between two services in the list and in the service's tab."""

from __future__ import annotations

import json
import re
import sys

import pytest
from playwright.sync_api import expect
from support.platform import User
from ui.lab import log_in, open_cubelab_panel, use_checkout_labextension

pytestmark = pytest.mark.browser

# Answers GET with who it is and POST with the JSON it got.  The try-it panel
# reaches a replica on this machine from the Lab's origin, so the server allows
# that origin (CORS), as a service meant for browsers does.
SERVER = r"""
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    def answer(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header('Access-Control-Allow-Origin', '*')
        self.send_header('Access-Control-Allow-Headers', 'Content-Type')
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_OPTIONS(self):
        self.answer(204, {})
    def do_GET(self):
        print('GET', self.path, flush=True)
        self.answer(200, {'service': os.environ.get('CUBELAB_SERVICE_NAME', 'tiny'), 'path': self.path})
    def do_POST(self):
        data = json.loads(self.rfile.read(int(self.headers.get('Content-Length') or 0)) or b'null')
        print('POST', self.path, flush=True)
        self.answer(200, {'echo': data, 'path': self.path})
    def log_message(self, *args):
        pass

ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()
"""


def test_create_a_service_try_it_and_see_the_split(platform, page):
    name, password = "svcui", "svcui-password"
    log_in(page, platform.url, name, password)
    workspace = platform.data_dir / "workspaces" / name
    (workspace / "tiny_server.py").write_text(SERVER)
    use_checkout_labextension(page, workspace)
    open_cubelab_panel(page)

    section = page.locator('[data-testid="cubelab-section-services"]')
    expect(section).to_be_visible(timeout=30_000)
    section.scroll_into_view_if_needed()
    page.click('[data-testid="cubelab-new-service"]')
    form = page.locator('[data-testid="cubelab-service-form"]')
    expect(form).to_be_visible(timeout=30_000)

    page.select_option('[data-testid="cubelab-service-project"]', "public")
    page.fill('[data-testid="cubelab-service-name"]', "ui-tiny")
    page.fill('[data-testid="cubelab-service-command"]', json.dumps([sys.executable, "tiny_server.py"]))
    page.fill('[data-testid="cubelab-service-workdir"]', str(workspace))
    page.fill('[data-testid="cubelab-service-ports"]', "8080")
    page.fill('[data-testid="cubelab-service-health"]', "8080:/")
    page.fill('[data-testid="cubelab-service-cpu"]', "0.5")
    # a wrong value is named at its field as you type, with the accepted forms
    page.fill('[data-testid="cubelab-service-memory"]', "lots")
    memory_error = page.locator('[data-testid="cubelab-field-error-memory"]')
    expect(memory_error).to_contain_text("accepted", timeout=15_000)
    page.fill('[data-testid="cubelab-service-memory"]', "256M")
    expect(memory_error).to_have_count(0, timeout=15_000)
    expect(page.locator('[data-testid="cubelab-service-diagnostics-count"]')).to_have_text("no errors", timeout=15_000)
    page.click('[data-testid="cubelab-service-submit"]')

    # the service's tab opens and shows it becoming ready
    view = page.locator('[data-testid="cubelab-service-view"][data-service="ui-tiny"]')
    expect(view).to_be_visible(timeout=30_000)
    expect(view).to_have_attribute("data-status", "running", timeout=120_000)
    expect(view.locator('[data-testid="cubelab-service-replicas"]')).to_contain_text("1/1")
    row = page.locator('[data-testid="cubelab-service-list"] li[data-service="ui-tiny"]')
    expect(row).to_have_attribute("data-status", "running", timeout=30_000)

    # try it: a JSON body to the service, its answer and the latency
    tryit = view.locator('[data-testid="cubelab-tryit"]')
    tryit.locator('[data-testid="cubelab-tryit-method"]').select_option("POST")
    tryit.locator('[data-testid="cubelab-tryit-path"]').fill("/predict")
    tryit.locator('[data-testid="cubelab-tryit-body"]').fill('{"x": [1, 2, 3]')
    tryit.locator('[data-testid="cubelab-tryit-send"]').click()
    expect(tryit.locator('[data-testid="cubelab-tryit-problem"]')).to_contain_text("body: is not JSON")
    tryit.locator('[data-testid="cubelab-tryit-body"]').fill('{"x": [1, 2, 3]}')
    tryit.locator('[data-testid="cubelab-tryit-send"]').click()
    answer = tryit.locator('[data-testid="cubelab-tryit-answer"]')
    expect(answer).to_have_attribute("data-status", "200", timeout=30_000)
    shown = json.loads(answer.locator('[data-testid="cubelab-tryit-answer-body"]').inner_text())
    assert shown == {"echo": {"x": [1, 2, 3]}, "path": "/predict"}
    assert re.fullmatch(r"\d+ ms|\d+\.\d\d s", answer.locator('[data-testid="cubelab-tryit-latency"]').inner_text())

    # the replica's log shows the request
    view.locator('[data-testid="cubelab-replica-logs"]').first.click()
    expect(view.locator('[data-testid="cubelab-replica-log"]')).to_contain_text("POST /predict", timeout=30_000)

    # the history lists the deploy
    expect(view.locator('[data-testid="cubelab-service-events"] tr[data-kind="deploy"]')).to_have_count(1, timeout=30_000)

    # two services sharing a host: the list and the tab show each one's share
    user = User(platform, name, password)
    assert user.login().status_code == 302
    user.create_token()
    for service, canary in (("ui-canary", ""), ("ui-main", "ui-canary:30%")):
        body = {"project": "public", "name": service, "command": [sys.executable, "tiny_server.py"], "workdir": str(workspace),
                "ports": "8080", "health": "8080:/", "cpu": "0.5", "memory": "256M", "canary": canary}
        created = user.api("POST", "/services", json=body)
        assert created.status_code == 201, created.text
    page.click('[data-testid="cubelab-refresh"]')
    main_row = page.locator('[data-testid="cubelab-service-list"] li[data-service="ui-main"]')
    expect(main_row.locator('[data-share-service="ui-main"]')).to_have_attribute("data-share-percent", "70", timeout=30_000)
    expect(main_row.locator('[data-share-service="ui-canary"]')).to_have_attribute("data-share-percent", "30")
    canary_row = page.locator('[data-testid="cubelab-service-list"] li[data-service="ui-canary"]')
    expect(canary_row.locator('[data-testid="cubelab-service-row-receives"]')).to_have_text("gets 30% of ui-main")
    main_row.locator('[data-testid="cubelab-service-open"]').click()
    main_view = page.locator('[data-testid="cubelab-service-view"][data-service="ui-main"]')
    split = main_view.locator('[data-testid="cubelab-service-split"]')
    expect(split.locator('[data-share-service="ui-main"]')).to_have_text("ui-main 70%", timeout=30_000)
    expect(split.locator('[data-share-service="ui-canary"]')).to_have_text("ui-canary 30%")


def test_deploy_a_model_file_from_the_file_browser_opens_the_form_prefilled(platform, page):
    name = "modeler"
    log_in(page, platform.url, name, "modeler-password")
    workspace = platform.data_dir / "workspaces" / name
    (workspace / "Iris_Model.joblib").write_bytes(b"not read by the form")
    use_checkout_labextension(page, workspace)

    page.click('.jp-SideBar [data-id="filebrowser"]')
    item = page.locator('.jp-DirListing-item[title*="Iris_Model.joblib"]')
    expect(item).to_be_visible(timeout=30_000)
    item.click(button="right")
    page.locator('.lm-Menu-item:has-text("Deploy as inference service")').click()

    form = page.locator('[data-testid="cubelab-service-form"]')
    expect(form).to_be_visible(timeout=30_000)
    expect(form.locator('[data-testid="cubelab-service-kind"]')).to_have_value("inference")
    expect(form.locator('[data-testid="cubelab-service-serving_type"]')).to_have_value("sklearn")
    expect(form.locator('[data-testid="cubelab-service-model_path"]')).to_have_value("Iris_Model.joblib")
    expect(form.locator('[data-testid="cubelab-service-model_name"]')).to_have_value("iris-model")
    expect(form.locator('[data-testid="cubelab-service-generated-name"]')).to_have_text("Named sklearn-iris-model-1")
    # the prefilled draft is one the platform accepts
    expect(form.locator('[data-testid="cubelab-service-diagnostics-count"]')).to_have_text("no errors", timeout=15_000)

    # a file that is not a model has no such command
    (workspace / "notes.txt").write_text("hello")
    page.keyboard.press("Escape")
    other = page.locator('.jp-DirListing-item[title*="notes.txt"]')
    expect(other).to_be_visible(timeout=30_000)
    other.click(button="right")
    expect(page.locator(".lm-Menu").first).to_be_visible()
    # Lumino keeps an item whose command is not visible in the menu, hidden
    expect(page.locator('.lm-Menu-item:has-text("Deploy as inference service")')).to_be_hidden()
    expect(page.locator('.lm-Menu-item:has-text("Open With")').first).to_be_visible()
