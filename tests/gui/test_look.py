"""How things are drawn: links cut where they say least, and icons from one set, light on dark."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontMetrics, QGuiApplication, QIcon, QPalette

from app.gui.link_delegate import elide_link
from app.gui.resources import INK, INK_ON_DARK, _icon, icon, is_dark, resource_path


def test_a_long_link_keeps_its_host_and_loses_the_middle_of_its_path(qapp) -> None:
    metrics = QFontMetrics(QFont())
    url = "https://d111111abcdef8.cloudfront.net/surveys/rec-2041/flight-01/DJI_0041.MP4"
    width = metrics.horizontalAdvance("https://d111111abcdef8.cloudfront.net/surveys/…/DJI_0041.MP4")
    shown = elide_link(url, metrics, width)
    assert shown.startswith("https://d111111abcdef8.cloudfront.net/")
    assert shown.endswith("MP4")
    assert "…" in shown
    assert metrics.horizontalAdvance(shown) <= width
    assert elide_link(url, metrics, 10_000) == url


def test_icons_come_from_the_apps_own_set_even_where_the_theme_has_one(qapp, monkeypatch) -> None:
    monkeypatch.setattr(QIcon, "hasThemeIcon", staticmethod(lambda name: True))
    monkeypatch.setattr(QIcon, "fromTheme", staticmethod(lambda *args: QIcon()))
    assert not icon("pause").isNull()


def test_on_a_dark_palette_the_icons_are_drawn_in_a_light_ink(qapp) -> None:
    dark = QPalette(QColor("#2b2b2b"))
    dark.setColor(QPalette.ColorRole.WindowText, QColor("#eeeeee"))
    assert is_dark(dark)
    assert not is_dark(QGuiApplication.palette())

    def ink(dark_mode: bool) -> int:
        image = _icon(resource_path("icons", "pause.svg"), dark_mode).pixmap(32, 32).toImage()
        pixels = [image.pixelColor(x, y) for x in range(32) for y in range(32)]
        return max(c.lightness() for c in pixels if c.alpha() > 200)

    assert abs(ink(False) - QColor(INK).lightness()) < 30
    assert abs(ink(True) - QColor(INK_ON_DARK).lightness()) < 30
