import gzip

from elmo.corpus_build.extractors.man import extract_man, man_paragraphs, resolve_escapes

PAGE = r""".\" -*- coding: UTF-8 -*-
.TH AT 1 "14 Noviembre 2009"
.SH NOMBRE
at \- encola trabajos
.SH SINOPSIS
\fBat\fP [\fB\-V\fP] [\fB\-q\fP \fIcola\fP]
.SH DESCRIPCIÓN
\fBat\fP lee órdenes desde la entrada estándar \(em o desde un
.I fichero
especificado. \" a comment
.BR batch (1)
ejecuta órdenes cuando la carga lo permite.
.TP 8
\fB\-q\fP
usa la cola especificada.
.PP
.nf
at 4pm + 3 days
.fi
Texto tras el bloque, con \(lqcomillas\(rq y \('a acentos.
.IP \(bu 2
Un elemento
.SH "VÉASE TAMBIÉN"
.BR atd (8),
.BR cron (1)
"""


def test_man_paragraphs_keep_text_and_font_macros_and_drop_requests_and_lists():
    assert man_paragraphs(PAGE) == [
        "at - encola trabajos",
        "at lee órdenes desde la entrada estándar — o desde un fichero especificado. "
        "batch(1) ejecuta órdenes cuando la carga lo permite.",
        "-q",
        "usa la cola especificada.",
        "Texto tras el bloque, con “comillas” y á acentos.",
        "Un elemento",
    ]


def test_quoted_macro_arguments_keep_their_spaces():
    page = '.PP\nLa función\n.BI "ssize_t read(int " fd ", void " buf );\ndevuelve.\n'
    assert man_paragraphs(page) == ["La función ssize_t read(int fd, void buf); devuelve."]


def test_escapes_resolve_to_characters_or_vanish():
    assert resolve_escapes(r"a\-b \fBbold\fR \s-1small\s0 \(co \[u00E9] \*(lqq\*(rq\&.") == (
        "a-b bold small © é “q”."
    )


def test_extract_man_reads_gzipped_pages(tmp_path):
    page = tmp_path / "at.1.gz"
    page.write_bytes(gzip.compress(PAGE.encode()))
    (document,) = extract_man(page, "man1/at.1.gz", {})
    assert document.id == "man1/at.1.gz" and len(document.paragraphs) == 6
