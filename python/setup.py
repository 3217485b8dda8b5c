"""Builds sluice._sluice with CMake for `pip install --no-build-isolation ./python`.

The extension is the CMake target `sluice_python` of the repository (python/CMakeLists.txt).
With $SLUICE_BUILD naming a configured build directory it is built there (make's build/ is
reused); otherwise in a fresh directory under setuptools' build_temp, without tests or
benchmarks. $CMAKE_BUILD_PARALLEL_LEVEL sets the jobs.
"""
import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.environ.get("SLUICE_BUILD")
        if not build or not os.path.exists(os.path.join(build, "CMakeCache.txt")):
            build = os.path.abspath(os.path.join(self.build_temp, "cmake"))
            generator = ["-G", "Ninja"] if shutil.which("ninja") else []
            subprocess.check_call(
                ["cmake", "-S", ROOT, "-B", build, *generator, "-DCMAKE_BUILD_TYPE=Release",
                 "-DSLUICE_BUILD_TESTS=OFF", "-DSLUICE_BUILD_BENCH=OFF",
                 f"-DPython_EXECUTABLE={sys.executable}"])
        subprocess.check_call(["cmake", "--build", build, "--target", "sluice_python"])
        built = os.path.join(build, "python", "sluice")
        name = next(f for f in os.listdir(built) if f.startswith("_sluice.") and f.endswith(".so"))
        dest = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        shutil.copyfile(os.path.join(built, name), dest)


setup(ext_modules=[Extension("sluice._sluice", sources=[])], cmdclass={"build_ext": CMakeBuild})
