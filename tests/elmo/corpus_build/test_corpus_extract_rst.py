from elmo.corpus_build.extractors.rst import inline_text, rst_paragraphs

DOC = """\
:mod:`json` --- JSON encoder and decoder
========================================

.. module:: json
   :synopsis: Encode and decode the JSON format.

`JSON <https://json.org>`_, specified by :rfc:`7159`, is a lightweight data
interchange format [#errata]_ with **simple** rules.

.. warning::
   Be cautious when parsing JSON data from untrusted sources.

Encoding basic Python object hierarchies::

    >>> import json
    >>> json.dumps(['foo'])

.. code-block:: shell-session

    $ echo '{}' | python -m json.tool

.. function:: dumps(obj, *, skipkeys=False)

   Serialize *obj* to a JSON formatted :class:`str` using this table.

   .. versionchanged:: 3.6
      All optional parameters are now keyword-only.

+------+-------+
| JSON | Py    |
+======+=======+
| null | None  |
+------+-------+

- First item of a list
  continued here.
- Second item.

term
   The definition of the term.

.. _label:

.. Comment that spans
   two lines.

>>> 1 + 1
2

Literal block follows ::

    code here

See :func:`~json.loads` and :ref:`the tutorial <tut-json>`.
"""


def test_rst_paragraphs_keep_prose_and_drop_code_tables_and_directives():
    assert rst_paragraphs(DOC) == [
        "JSON, specified by RFC 7159, is a lightweight data interchange format with simple rules.",
        "Be cautious when parsing JSON data from untrusted sources.",
        "Encoding basic Python object hierarchies:",
        "Serialize obj to a JSON formatted str using this table.",
        "All optional parameters are now keyword-only.",
        "First item of a list continued here.",
        "Second item.",
        "term",
        "The definition of the term.",
        "Literal block follows",
        "See loads and the tutorial.",
    ]


def test_inline_markup_shows_its_text():
    assert inline_text("``x = 1`` and `a link`_ and :pep:`8` and |version| and *it*") == (
        "x = 1 and a link and PEP 8 and  and it"
    )
