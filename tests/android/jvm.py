"""Compile android_demo's pure-Java modules with javac and run their JUnit 4 tests (Debian's junit4).

The tests here are driven from pytest so that CI reads one result; javac missing is the only reason
to skip (``.ci/run`` installs ``default-jdk-headless junit4``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ANDROID_DEMO = Path(__file__).resolve().parents[2] / "android_demo"
JUNIT_JARS = ("/usr/share/java/junit4.jar", "/usr/share/java/hamcrest-core.jar")


def require_javac() -> None:
    if shutil.which("javac") is None or shutil.which("java") is None:
        pytest.skip("javac not found: the Java tokenizer and benchmark-line tests need a JDK "
                    "(apt-get install default-jdk-headless junit4, as .ci/run does)")
    missing = [jar for jar in JUNIT_JARS if not Path(jar).is_file()]
    assert not missing, f"{', '.join(missing)} missing: apt-get install junit4 (as .ci/run does)"


def compile_module(module: str, out: Path) -> Path:
    """javac every main and test source of ``android_demo/<module>`` into ``out``; returns ``out``."""
    require_javac()
    sources = sorted(str(p) for p in (ANDROID_DEMO / module / "src").rglob("*.java"))
    out.mkdir(parents=True, exist_ok=True)
    # --release 8: the Java 8 API only, as the modules' build.gradle.kts target (Android from API 24).
    done = subprocess.run(["javac", "--release", "8", "-encoding", "UTF-8", "-Xlint:-options", "-d", str(out),
                           "-cp", ":".join(JUNIT_JARS), *sources], capture_output=True, text=True)
    assert done.returncode == 0, f"javac failed on android_demo/{module}:\n{done.stdout}{done.stderr}"
    return out


def run_junit(classes: Path, test_class: str, **props: str) -> str:
    """Run one JUnit 4 class (``-Dkey=value`` for each prop); returns its output, asserting it passed."""
    argv = ["java", "-Xss8m", *(f"-D{k}={v}" for k, v in props.items()),
            "-cp", ":".join([str(classes), *JUNIT_JARS]), "org.junit.runner.JUnitCore", test_class]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"JUnit {test_class} failed:\n{output[-6000:]}"
    return output
