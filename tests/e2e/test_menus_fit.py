"""Menus on short screens: a laptop's 600 px, or a phone held sideways, scroll the menu so its
last item can still be reached, instead of cutting it off below the screen."""

from __future__ import annotations

import pytest

from tests.e2e.support import wait_js

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("width,height,touch", [(1280, 560, False), (844, 390, True)])
def test_the_file_menus_last_item_can_be_reached_on_a_short_screen(open_page, width, height,
                                                                   touch):
    page, _ = open_page(width=width, height=height, touch=touch)
    if touch:
        page.locator("[data-testid=file-menu]").tap()
    else:
        page.click("[data-testid=file-menu]")
    wait_js(page, "!document.getElementById('file-menu').hidden")
    menu = page.locator("#file-menu").bounding_box()
    assert menu["y"] + menu["height"] <= height + 0.5  # the menu itself fits on the screen
    last = page.locator("#file-menu button").last
    last.scroll_into_view_if_needed()
    box = last.bounding_box()
    assert 0 <= box["y"] and box["y"] + box["height"] <= height + 0.5
