"""The library as users get it: exported symbols, make install, pkg-config,
and an out-of-tree program built with nothing but pkg-config."""
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
from sios_test import BUILD, ROOT, run, test  # noqa: E402

SAN = os.path.basename(BUILD) == "san"


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, **kw).stdout


@test
def exports():
    """nm -D on libsios.so shows sios_* symbols and nothing else"""
    out = sh(f"nm -D --defined-only {BUILD}/libsios.so")
    names = [l.split()[-1] for l in out.splitlines() if l.strip()]
    assert names, out
    bad = [n for n in names if not n.startswith("sios_")]
    assert not bad, bad
    for must in ("sios_server_new", "sios_server_post", "sios_eio_mount", "sios_strerror", "sios_features"):
        assert must in names, must


@test
def soname():
    """the shared library's soname is libsios.so.0"""
    out = sh(f"objdump -p {BUILD}/libsios.so")
    assert "SONAME               libsios.so.0" in out, out


PROG = r'''
#include <stdio.h>
#include <string.h>
#include <sios.h>
static void stop(sios_server *srv, void *ud) { *(int *)ud = 1; sios_server_stop(srv); }
int main(void) {
	sios_config *cfg; sios_server *srv; int ran = 0;
	if (sios_config_new(&cfg) || sios_config_set_port(cfg, 0) ||
	    sios_config_set_host(cfg, "127.0.0.1")) return 1;
	if (sios_config_set_ping_interval(cfg, 0) != SIOS_EINVAL) return 2;
	if (strcmp(sios_err_name(SIOS_EINVAL), "SIOS_EINVAL")) return 3;
	if (sios_server_new(cfg, &srv)) return 4;
	sios_config_free(cfg);
	if (sios_server_port(srv) <= 0) return 5;
	if (sios_server_post(srv, stop, &ran)) return 6;
	if (sios_server_run(srv) || !ran) return 7;
	if (sios_server_post(srv, stop, &ran) != SIOS_ECLOSED) return 8;
	sios_server_free(srv);
	printf("sios %s features %u\n", sios_version(), sios_features());
	return 0;
}
'''


_installed = {}


def installed():
    """`make install` of BUILD into a temporary prefix, once per run: the
    prefix and an environment whose pkg-config finds its sios.pc"""
    if not _installed:
        d = tempfile.mkdtemp(prefix="sios-install-")
        atexit.register(shutil.rmtree, d, True)
        prefix = os.path.join(d, "usr")
        sh(f"make -s -C {ROOT} install PREFIX={prefix} BUILD={os.path.relpath(BUILD, ROOT)}")
        _installed["prefix"] = prefix
        _installed["env"] = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    return _installed["prefix"], _installed["env"]


def static_libs(archive, env):
    """what sios.pc says a program linked with libsios.a needs, the archive
    named in place of -lsios (the .so beside it would win otherwise)"""
    libs = sh("pkg-config --static --libs sios", env=env).split()
    assert "-lsios" in libs, libs
    return " ".join(archive if a == "-lsios" else a for a in libs)


def no_ld_path():
    return {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}


@test
def install_and_pkg_config():
    """make install into a prefix; pkg-config builds and runs a program, shared and static"""
    if SAN:
        return  # the installed library is the regular build; checked once
    prefix, env = installed()
    libdir = os.path.join(prefix, "lib")
    sh("pkg-config --validate sios", env=env)
    assert sh("pkg-config --modversion sios", env=env).strip() == sh(
        f"sed -n 's/^#define SIOS_VERSION_STRING \"\\(.*\\)\"/\\1/p' {ROOT}/include/sios.h").strip()
    feats = sh("pkg-config --variable=features sios", env=env).split()
    assert "tls" in feats, feats
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "prog.c")
        with open(src, "w") as f:
            f.write(PROG)
        cflags = sh("pkg-config --cflags sios", env=env).strip()
        for kind in ("shared", "static"):
            exe = os.path.join(d, f"prog-{kind}")
            libs = (sh("pkg-config --libs sios", env=env).strip() if kind == "shared"
                    else static_libs(os.path.join(libdir, "libsios.a"), env))
            sh(f"cc -Wall -Wextra -Werror {cflags} -o {exe} {src} {libs}", env=env)
            run_env = dict(env, LD_LIBRARY_PATH=libdir) if kind == "shared" else no_ld_path()
            out = sh(exe, env=run_env)
            assert out.startswith("sios "), out
            ldd = sh(f"ldd {exe}", env=run_env)
            assert ("libsios.so.0" in ldd) == (kind == "shared"), ldd


CJSON_PROG = r"""
#include <stdio.h>
#include <sios.h>
int main(void)
{
	cJSON *o = cJSON_CreateObject();
	char *txt;

	cJSON_AddStringToObject(o, "sios", sios_version());
	cJSON_AddNumberToObject(o, "features", sios_features());
	txt = cJSON_PrintUnformatted(o);
	if (!txt)
		return 1;
	puts(txt);
	cJSON_free(txt);
	cJSON_Delete(o);
	return 0;
}
"""


@test
def pkg_config_alone_builds_cjson_program():
    """a program using <sios.h> and cJSON itself builds with pkg-config sios alone: shared, rpath, static"""
    if SAN:
        return
    prefix, env = installed()
    libdir = os.path.join(prefix, "lib")
    version = sh("pkg-config --modversion sios", env=env).strip()
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "prog.c")
        with open(src, "w") as f:
            f.write(CJSON_PROG)
        builds = {
            # exactly what a user types, nothing else on the command line
            "shared": f"cc -o {d}/shared $(pkg-config --cflags sios) {src} $(pkg-config --libs sios)",
            "rpath": f"cc -o {d}/rpath $(pkg-config --cflags sios) {src} $(pkg-config --libs sios)"
                     f" -Wl,-rpath,{libdir}",
            "static": f"cc -o {d}/static $(pkg-config --cflags sios) {src} "
                      + static_libs(os.path.join(libdir, "libsios.a"), env),
        }
        for kind, cmd in builds.items():
            sh(cmd, env=env)
            run_env = dict(no_ld_path(), LD_LIBRARY_PATH=libdir) if kind == "shared" else no_ld_path()
            out = sh(f"{d}/{kind}", env=run_env).strip()
            assert out.startswith('{"sios":"%s","features":' % version), (kind, out)
            ldd = sh(f"ldd {d}/{kind}", env=run_env)
            if kind == "static":
                assert "libsios" not in ldd, ldd
            else:
                assert re.search(r"libsios\.so\.0 => %s/libsios\.so\.0 " % re.escape(libdir), ldd), (kind, ldd)
            assert "libcjson.so" in ldd, (kind, ldd)


def files_under(top):
    """every file and symbolic link below top, relative to it"""
    out = set()
    for dirpath, dirnames, filenames in os.walk(top):
        for n in filenames + [x for x in dirnames if os.path.islink(os.path.join(dirpath, x))]:
            out.add(os.path.relpath(os.path.join(dirpath, n), top))
    return out


@test
def uninstall_removes_what_install_installed():
    """make uninstall (DESTDIR + PREFIX) removes every file make install put there, and nothing else"""
    if SAN:
        return
    with tempfile.TemporaryDirectory() as dest:
        top = os.path.join(dest, "opt", "sios")
        # files of other packages in the same directories, some with near names
        foreign = {"include/sios_extra.h", "lib/libsiosx.so", "lib/libsios.so.0.0.9",
                   "lib/pkgconfig/other.pc", "share/man/man3/sios_other.3", "share/man/man3/printf.3",
                   "share/man/man7/other.7"}
        for f in foreign:
            os.makedirs(os.path.dirname(os.path.join(top, f)), exist_ok=True)
            open(os.path.join(top, f), "w").close()
        args = f"DESTDIR={dest} PREFIX=/opt/sios BUILD={os.path.relpath(BUILD, ROOT)}"
        sh(f"make -s -C {ROOT} install {args}")
        ours = files_under(top) - foreign
        version = sh(f"sed -n 's/^#define SIOS_VERSION_STRING \"\\(.*\\)\"/\\1/p' {ROOT}/include/sios.h").strip()
        for must in ("include/sios.h", f"lib/libsios.so.{version}", "lib/libsios.so.0", "lib/libsios.so",
                     "lib/libsios.a", "lib/pkgconfig/sios.pc", "share/man/man7/sios.7",
                     "share/man/man3/sios_server_new.3", "share/man/man3/sios_server_run.3"):
            assert must in ours, (must, sorted(ours))
        # a page per documented function, the page itself or a .so link page
        hdr = open(os.path.join(ROOT, "include", "sios.h")).read()
        funcs = set(re.findall(r"SIOS_EXPORT[^;(]*?\b(sios_\w+)\s*\(", hdr))
        missing = sorted(f for f in funcs if f"share/man/man3/{f}.3" not in ours)
        assert not missing, missing
        assert open(os.path.join(top, "share/man/man3/sios_server_run.3")).read() == ".so man3/sios_server_new.3\n"
        sh(f"make -s -C {ROOT} uninstall {args}")
        left = files_under(top)
        assert left == foreign, ("left behind", sorted(left - foreign), "removed", sorted(foreign - left))
        # again, with nothing installed: still succeeds
        sh(f"make -s -C {ROOT} uninstall {args}")
        assert files_under(top) == foreign


FEATURES_PROG = '#include <stdio.h>\n#include <sios.h>\nint main(void){printf("%u\\n", sios_features());return 0;}\n'


@test
def with_redis_flag():
    """WITH_REDIS=0 builds, and sios_features() and sios.pc report the flag"""
    if SAN:
        return
    with tempfile.TemporaryDirectory(dir=os.path.join(ROOT, "build")) as d:
        rel = os.path.relpath(d, ROOT)
        prefix = os.path.join(d, "p")
        sh(f"make -s -C {ROOT} install PREFIX={prefix} BUILD={rel} WITH_REDIS=0")
        pc = open(os.path.join(prefix, "lib", "pkgconfig", "sios.pc")).read()
        assert "features=tls\n" in pc and "hiredis" not in pc, pc
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        src = os.path.join(d, "f.c")
        with open(src, "w") as f:
            f.write(FEATURES_PROG)
        exe = os.path.join(d, "f")
        sh(f"cc $(pkg-config --cflags sios) -o {exe} {src} "
           + static_libs(os.path.join(d, "libsios.a"), env), env=env)
        assert int(sh(exe)) & 1 == 0, "SIOS_FEATURE_REDIS set without Redis"
    prefix, env = installed()
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "f.c")
        with open(src, "w") as f:
            f.write(FEATURES_PROG)
        sh(f"cc $(pkg-config --cflags sios) -o {d}/f {src} "
           + static_libs(os.path.join(BUILD, "libsios.a"), env), env=env)
        out = sh(f"{d}/f")
    import glob
    has_redis = bool(glob.glob(os.path.join(ROOT, "lib", "redis", "*.c")))
    # Redis is reported only when its code is compiled in
    assert int(out.strip()) & 1 == int(has_redis), ("Redis feature bit", out, has_redis)


@test
def man_pages():
    """every public function has a man page, every .Xr leads to one, and mandoc -Tlint finds nothing"""
    import glob
    import re
    hdr = open(os.path.join(ROOT, "include", "sios.h")).read()
    funcs = set(re.findall(r"SIOS_EXPORT[^;(]*?\b(sios_\w+)\s*\(", hdr))
    assert len(funcs) > 30, funcs
    documented = set()
    pages = glob.glob(os.path.join(ROOT, "man", "*.[37]"))
    for p in pages:
        documented |= set(re.findall(r"^\.Nm (sios_\w+)", open(p).read(), re.M))
        out = subprocess.run(["mandoc", "-Tlint", "-W", "warning", p], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert out.returncode == 0 and not out.stdout.strip(), out.stdout
    missing = sorted(funcs - documented)
    assert not missing, f"functions without a man page: {missing}"
    # every cross-reference to a sios page leads to one
    names = {n for p in pages for n in re.findall(r"^\.Nm (sios\w*)", open(p).read(), re.M)}
    for p in pages:
        for name in re.findall(r"^\.Xr (sios\w*) [37]", open(p).read(), re.M):
            assert name in names, f"{os.path.basename(p)}: .Xr {name} names no page"



@test
def readme_example():
    """the README's C program builds with -Wall -Wextra -Werror and serves"""
    import re
    if SAN:
        return
    text = open(os.path.join(ROOT, "README.md")).read()
    code = re.search(r"```c\n(.*?)```", text, re.S).group(1)
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "readme.c")
        with open(src, "w") as f:
            f.write(code)
        prefix, env = installed()
        sh(f"cc -Wall -Wextra -Werror $(pkg-config --cflags sios) -o {d}/readme {src} "
           + static_libs(os.path.join(BUILD, "libsios.a"), env), env=env)



@test
def readme_points_inside_the_repository():
    """every file the README names is in the repository; none is outside it"""
    text = open(os.path.join(ROOT, "README.md")).read()
    assert "../" not in text, [l for l in text.splitlines() if "../" in l]
    names = set(re.findall(r"\]\(([^)\s]+)\)", text))  # link and image targets
    names |= {t for t in re.findall(r"`([^`\s]+)`", text)
              if "/" in t and re.fullmatch(r"[\w.-]+(/[\w.-]+)*/?", t)}
    assert "tools/deps.sh" in names and "bench/loadgen.c" in names, sorted(names)
    missing = sorted(n for n in names if not n.startswith(("http:", "https:"))
                     and not os.path.exists(os.path.join(ROOT, n)))
    assert not missing, f"README names files that are not here: {missing}"


@test
def abi_symbol_list():
    """the exported symbols match the checked-in list abi/sios.symbols exactly"""
    out = sh(f"nm -D --defined-only {BUILD}/libsios.so")
    names = sorted(l.split()[-1] for l in out.splitlines() if l.strip())
    listed = sorted(l.strip() for l in open(os.path.join(ROOT, "abi", "sios.symbols"))
                    if l.strip() and not l.startswith("#"))
    added = sorted(set(names) - set(listed))
    removed = sorted(set(listed) - set(names))
    assert not added and not removed, (
        f"exported symbols changed: new {added}, gone {removed}; "
        "update abi/sios.symbols on purpose (symbols are only ever added)")


PRELUDE = """#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sios.h>
sios_server *srv; sios_socket *sock; sios_nsp *nsp, *admin, *root;
sios_config *cfg; const sios_event *ev;
"""


def split_example(block):
    """file-scope definitions (functions at column 0) and the statements"""
    top, body, depth, in_fn, opened = [], [], 0, False, False
    for line in block.splitlines():
        if (not in_fn and re.match(r"^(static\s|[a-z_][\w ]*\*?\s*\w+\()", line)
                and not line.rstrip().endswith(";")):
            in_fn, depth, opened = True, 0, False
        if in_fn:
            top.append(line)
            depth += line.count("{") - line.count("}")
            opened = opened or "{" in line
            if opened and depth == 0:
                in_fn = False
        else:
            body.append(line)
    return "\n".join(top), "\n".join(body)


@test
def man_examples_compile():
    """every EXAMPLES block of the man pages compiles (-Wall -Werror)"""
    import glob
    blocks = 0
    with tempfile.TemporaryDirectory() as d:
        for page in sorted(glob.glob(os.path.join(ROOT, "man", "*.3"))):
            text = open(page).read()
            ex = text.split(".Sh EXAMPLES", 1)
            if len(ex) < 2:
                continue
            for i, m in enumerate(re.finditer(r"\.Bd -literal\n(.*?)\.Ed", ex[1].split("\n.Sh ")[0], re.S)):
                code = m.group(1).replace("\\en", "\\n").replace("\\e", "\\")
                top, body = split_example(code)
                src = os.path.join(d, f"{os.path.basename(page)}.{i}.c")
                with open(src, "w") as f:
                    f.write(PRELUDE + top + "\nint example(void);\nint example(void)\n{\n" + body + "\nreturn 0;\n}\n")
                r = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Werror", "-Wno-unused-variable",
                                    "-Wno-unused-function", "-Wno-unused-but-set-variable",
                                    f"-I{ROOT}/include", "-I/usr/include/cjson", "-c", src, "-o", src + ".o"],
                                   text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                assert r.returncode == 0, f"{os.path.basename(page)} example {i}:\n{open(src).read()}\n{r.stdout}"
                blocks += 1
    assert blocks >= 10, blocks


# lib/'s layers, bottom to top. engine and protocol are side by side (neither
# knows the other); adapter/adapter.h is the contract core is written against,
# so it sits under core, while the adapters themselves sit above it. redis (the
# connections, no Socket.IO) needs only the loop.
LAYERS = {"util": 0, "loop": 1, "engine": 2, "protocol": 2, "adapter.h": 3, "core": 4,
          "adapter": 5, "redis": 2, "presence": 6, "queue": 7, "top": 8}


@test
def layers():
    """lib/'s include graph goes only downwards, and core names only adapter.h of lib/adapter"""
    import glob
    edges = []
    for path in glob.glob(os.path.join(ROOT, "lib", "**", "*.[ch]"), recursive=True):
        rel = os.path.relpath(path, os.path.join(ROOT, "lib"))
        src = rel.split("/")[0] if "/" in rel else "top"
        if rel == "adapter/adapter.h":
            src = "adapter.h"
        for inc in re.findall(r'^#include "([^"]+)"', open(path).read(), re.M):
            dst = inc.split("/")[0] if "/" in inc else src
            if inc in ("adapter/adapter.h",) or (src in ("adapter", "adapter.h") and inc == "adapter.h"):
                dst = "adapter.h"
            if dst != src:
                edges.append((src, dst, rel, inc))
    assert edges, "no include found"
    up = [e for e in edges if LAYERS[e[1]] >= LAYERS[e[0]]]
    assert not up, f"includes that go up or sideways: {up}"


run()
