"""alpr-stream: real-time ALPR analytics engine.

The design card's top-level folders are mapped into one import namespace, ``alpr``:
``pipelines/`` -> ``alpr.pipelines``, ``inference/`` -> ``alpr.inference``,
``connectors/`` -> ``alpr.connectors``, ``governance/`` -> ``alpr.governance``.
Nothing generic (``inference``, ``connectors``) lands in site-packages.
"""

from setuptools import Extension, setup

MAPPED = {
    "alpr": "alpr",
    "alpr.pipelines": "pipelines",
    "alpr.inference": "inference",
    "alpr.connectors": "connectors",
    "alpr.governance": "governance",
}


# Folders that hold only data files (no ``__init__.py``) ship as data packages: listing them in
# ``packages`` is what setuptools asks for (otherwise it warns "Package ... is absent from the
# packages configuration" once per folder and per build step).
DATA_PACKAGES = {
    "alpr.inference.models.ppocr": ["*.onnx", "*.txt"],
    "alpr.governance.templates": ["*.html"],
    "alpr.governance.policy": ["*.txt", "*.json"],
    "alpr.connectors.schemas": ["*.json"],
}


def _packages():
    import os

    found = []
    for pkg, folder in MAPPED.items():
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            if "__init__.py" in files:
                rel = os.path.relpath(root, folder)
                found.append(pkg if rel == "." else pkg + "." + rel.replace(os.sep, "."))
    return sorted(set(found) | set(DATA_PACKAGES))


setup(
    name="alpr-stream",
    version="0.1.0",
    description="Real-time Automated License Plate Reader analytics engine (Beam, Kafka, Triton, Cassandra)",
    license="Apache-2.0",
    python_requires=">=3.11,<3.12",
    packages=_packages(),
    package_dir=MAPPED,
    include_package_data=True,
    package_data={
        **DATA_PACKAGES,
    },
    install_requires=[
        "apache-beam>=2.77,<2.78",
        "numpy>=1.26,<2.5",
        "onnxruntime>=1.18,<2",
        "opencv-python-headless>=4.9,<6",
        "pyclipper>=1.3,<2",
        "Pillow>=10.1,<13",
        "PyYAML>=6,<7",
        "confluent-kafka>=2.5,<3",
        "cassandra-driver>=3.29,<4",
        "tritonclient[grpc]>=2.60,<3",
        "prometheus-client>=0.20,<1",
        "fastapi>=0.110,<1",
        "uvicorn>=0.29,<1",
        "jinja2>=3.1,<4",
        "python-multipart>=0.0.9",
        "argon2-cffi>=23,<26",
        "pyotp>=2.9,<3",
        "cryptography>=42,<51",  # governance: Fernet secrets at rest, Ed25519-signed access-log anchors
        "fastapi-offline>=1.7,<2",  # governance: /docs from local Swagger UI 5 assets (no CDN)
        "jsonschema>=4,<5",
        "rich>=13,<16",  # progress bars (demo, run, hotlist import, eval, benchmarks)
        "pydantic>=2.6,<3",  # alpr.config: typed settings from YAML / ALPR_* environment
    ],
    extras_require={
        "test": [
            "pytest>=8,<9",  # pytest 9 drops pytest-xdist's xdist_group (loadgroup): make test needs it
            "pytest-timeout>=2.3",
            "pytest-xdist>=3.5",  # make test: the service tests in one worker, the rest beside them
            "httpx>=0.27",
            "rapidfuzz>=3",
            "selenium>=4.20",
            "schemathesis>=3.30",
            "matplotlib>=3.8,<4",  # PNG plots beside the eval/benchmark JSON
        ],
    },
    entry_points={"console_scripts": ["alpr=alpr.app.cli:main"]},
    # optional C accelerator for the hotlist matcher; alpr.hotlist.matcher falls back to pure Python
    ext_modules=[Extension("alpr.hotlist._fastmatch", ["alpr/hotlist/_fastmatch.c"], optional=True)],
)
