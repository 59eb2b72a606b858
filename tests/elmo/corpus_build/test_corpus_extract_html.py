from elmo.corpus_build.extractors.html import extract_html, html_paragraphs

PAGE = """<!DOCTYPE html><html><head><title>Título</title><script>var x = 1;</script>
<style>p { color: red }</style></head><body>
<header><p>Ayuda de LibreOffice</p></header>
<nav class="breadcrumbs">Inicio &gt; Ayuda</nav>
<h1>3.1.2. Corrección automática</h1>
<p>El texto se ha corregido con <a href="x.html">Corrección automática</a>, de forma que las
comillas se han sustituido.</p>
<div class="howtoget"><p>Para acceder a esta orden…</p><div><p>Elija Herramientas</p></div></div>
<p>Después del bloque<br>una línea nueva &amp; un carácter.</p>
<pre>for x in y: print(x)</pre>
<span hidden="true"><p>Variante oculta para Writer</p></span>
<ul><li>Primer elemento de la lista</li><li>Segundo <code>elemento</code></li></ul>
<table><tr><td>celda uno</td><td>celda dos</td></tr></table>
</body></html>"""


def test_html_paragraphs_keep_prose_and_skip_code_navigation_and_hidden_parts():
    paragraphs = html_paragraphs(PAGE, {"skip_classes": ["howtoget"], "skip_ids": []})
    assert paragraphs == [
        "Corrección automática",
        "El texto se ha corregido con Corrección automática, de forma que las comillas se han "
        "sustituido.",
        "Después del bloque",
        "una línea nueva & un carácter.",
        "Primer elemento de la lista",
        "Segundo elemento",
        "celda uno",
        "celda dos",
    ]


def test_skipped_elements_may_nest_elements_of_the_same_tag():
    page = '<div id="nav"><div>uno</div><div>dos</div></div><p>Texto que queda aquí.</p>'
    assert html_paragraphs(page, {"skip_classes": [], "skip_ids": ["nav"]}) == [
        "Texto que queda aquí."
    ]


def test_mallard_pages_skip_metadata_and_screens():
    page = """<page xmlns="http://projectmallard.org/1.0/" id="x">
    <info><credit><name>Autora</name></credit><desc>Descripción corta</desc>
    <license><p>Creative Commons</p></license></info>
    <title>Cambiar el fondo</title>
    <p>Pulse <gui>Fondo</gui> para abrir el panel.</p>
    <p>Vaya a <guiseq><gui>Editar</gui><gui>Preferencias</gui></guiseq> o pulse
    <keyseq><key>Ctrl</key><key>O</key></keyseq>.</p>
    <screen>gsettings set org.gnome.desktop.background x</screen>
    <steps><item><p>Abra la vista de actividades.</p></item></steps>
    </page>"""
    assert html_paragraphs(page, mallard=True) == [
        "Cambiar el fondo",
        "Pulse Fondo para abrir el panel.",
        "Vaya a Editar ▸ Preferencias o pulse Ctrl+O.",
        "Abra la vista de actividades.",
    ]


def test_extract_html_gives_one_document_per_page(tmp_path):
    page = tmp_path / "a.html"
    page.write_text("<p>Uno dos tres.</p><p>Cuatro cinco.</p>", encoding="utf-8")
    (document,) = extract_html(page, "help/a.html", {"skip_classes": [], "skip_ids": []})
    assert document.id == "help/a.html"
    assert document.paragraphs == ["Uno dos tres.", "Cuatro cinco."]
