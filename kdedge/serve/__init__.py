"""The HTTP service and the web page: ``kdedge serve``.

A thin front end over :class:`kdedge.TextClassifier` -- the same inference path as
``kdedge predict`` -- so the numbers a client gets are the numbers ``predict`` prints.
Nothing here imports TensorFlow.

    config.py    ServeConfig (every ``kdedge serve`` flag) and which file of an export folder is served
    batcher.py   MicroBatcher: concurrent requests' texts through the model in one call
    metrics.py   the Prometheus metrics (one process, or multiprocess mode under --workers N)
    app.py       create_app: the FastAPI routes, request limits, the page and its assets
    server.py    serve(): uvicorn, one process or N workers, graceful shutdown
    process.py   a ``kdedge serve`` child process on a free loopback port (tests, benchmarks)
    browser.py   PageDriver: the page in headless Chromium (web/drive.mjs), and in-page timing
    web/         the page (index.html, app.js, style.css), drive.mjs (its headless-Chromium driver) and
                 package.json / package-lock.json, which pin the MediaPipe Tasks for Web files the page
                 runs and playwright-core (``npm ci --prefix kdedge/serve/web``)
    deploy/      a Dockerfile and a Kubernetes Deployment + Service example
"""
