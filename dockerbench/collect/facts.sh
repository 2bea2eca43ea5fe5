# dockerbench host facts. Read-only: this script never writes anything on the host.
#
# Usage: sh facts.sh ROOT MODE [ARGS...]
#   ROOT   prefix under which the host's / is visible ("" on the host itself,
#          "/host" in the probe container). /proc is never prefixed: the probe
#          shares the host's PID namespace and mounts its own /proc for it.
#   MODE   discover [TOKEN...]  the daemons, their sockets, mounts, audit rules,
#                               docker group, config files, binaries, hostname
#          fetch TOKEN...       only the tokens
#          stat PATH...         stat plain paths (for people; Python uses fetch)
#   TOKEN  s<hex>: stat the path, r<hex>: read the file, c<hex>: resolve symlinks
#          of the path under ROOT; <hex> is the path's bytes in hexadecimal.
#
# Output: one record per line, fields separated by one space. A field that
# starts with "x" is free data in hexadecimal (so values may hold any byte);
# other fields are tags and decimal or hex numbers. The last line is "end".
# Runs under POSIX sh: dash, bash, busybox ash.

set -u
LC_ALL=C
export LC_ALL
ROOT=${1-}
MODE=${2-}
[ $# -ge 2 ] && shift 2
ROOT=${ROOT%/}

# hex of stdin, as one word
hx() { od -An -v -tx1 | tr -d ' \n'; }
# hex of a string (as the field "x...")
xs() { printf 'x'; printf '%s' "$1" | hx; }
# hex of a file (as the field "x...")
xf() { printf 'x'; hx <"$1"; }

# Decode hexadecimal $1 into the variable UNHEX, without forking.
unhex() {
    _h=$1 _o=
    while [ -n "$_h" ]; do
        _b=${_h%"${_h#??}"}
        _h=${_h#??}
        _d=$((0x$_b))
        _o="$_o\\$((_d / 64))$((_d / 8 % 8))$((_d % 8))"
    done
    # shellcheck disable=SC2059 # the format is made of octal escapes only
    UNHEX=$(printf "${_o}x")
    UNHEX=${UNHEX%x}
}

# Resolve every symlink of host path $1 inside ROOT (an absolute link points
# into ROOT, not into the probe's own filesystem). Prints the host path.
resolve() {
    _todo=$1 _done= _n=0
    while [ -n "$_todo" ]; do
        case $_todo in
        /*)
            _todo=${_todo#/}
            continue
            ;;
        esac
        _c=${_todo%%/*}
        if [ "$_c" = "$_todo" ]; then _todo=; else _todo=${_todo#*/}; fi
        case $_c in
        . | '') continue ;;
        ..)
            _done=${_done%/*}
            continue
            ;;
        esac
        if [ -L "$ROOT$_done/$_c" ]; then
            _n=$((_n + 1))
            [ "$_n" -gt 40 ] && return 1
            _t=$(readlink "$ROOT$_done/$_c" && echo x) || return 1
            _t=${_t%?x}
            case $_t in /*) _done= ;; esac
            if [ -n "$_todo" ]; then _todo=$_t/$_todo; else _todo=$_t; fi
        else
            _done=$_done/$_c
        fi
    done
    printf '%s' "${_done:-/}"
}

# Name of uid/gid $2 in the host's $1 (passwd or group), cached.
idname() {
    eval "_v=\${_idc_$1_$2-}"
    if [ -z "$_v" ]; then
        _v=-
        if [ -r "$ROOT/etc/$1" ]; then
            while IFS=: read -r _nm _pw _id _rest; do
                if [ "$_id" = "$2" ]; then
                    _v=$_nm
                    break
                fi
            done <"$ROOT/etc/$1"
        fi
        eval "_idc_$1_$2=\$_v"
    fi
    [ "$_v" = - ] && _v=
    printf '%s' "$_v"
}

dostat() {
    if ! _r=$(resolve "$1"); then
        echo "stat $(xs "$1") err $(xs 'too many levels of symbolic links')"
        return
    fi
    if _o=$(stat -c '%f:%u:%g:%U:%G' "$ROOT$_r" 2>&1); then
        _oldifs=$IFS
        IFS=:
        # shellcheck disable=SC2086 # split on ":" on purpose
        set -- "$1" $_o
        IFS=$_oldifs
        _un=$(idname passwd "$3")
        _gn=$(idname group "$4")
        # On the host itself, NSS (LDAP, ...) may know names /etc/passwd does not.
        if [ -z "$ROOT" ]; then
            [ -z "$_un" ] && [ "$5" != UNKNOWN ] && [ "$5" != "$3" ] && _un=$5
            [ -z "$_gn" ] && [ "$6" != UNKNOWN ] && [ "$6" != "$4" ] && _gn=$6
        fi
        echo "stat $(xs "$1") ok $2 $3 $4 $(xs "$_un") $(xs "$_gn") $(xs "$_r")"
    else
        case $_o in
        *'No such file'* | *'Not a directory'*) echo "stat $(xs "$1") missing" ;;
        *) echo "stat $(xs "$1") err $(xs "$_o")" ;;
        esac
    fi
}

doread() {
    if ! _r=$(resolve "$1"); then
        echo "read $(xs "$1") err $(xs 'too many levels of symbolic links')"
    elif [ ! -e "$ROOT$_r" ]; then
        echo "read $(xs "$1") missing"
    elif [ ! -f "$ROOT$_r" ]; then
        echo "read $(xs "$1") err $(xs 'not a regular file')"
    elif [ ! -r "$ROOT$_r" ]; then
        echo "read $(xs "$1") err $(xs 'permission denied')"
    else
        echo "read $(xs "$1") ok $(xf "$ROOT$_r")"
    fi
}

tokens() {
    for _tok in "$@"; do
        unhex "${_tok#?}"
        case $_tok in
        s*) dostat "$UNHEX" ;;
        r*) doread "$UNHEX" ;;
        c*)
            if _r=$(resolve "$UNHEX"); then
                echo "canon $(xs "$UNHEX") $(xs "$_r")"
            fi
            ;;
        esac
    done
}

# ppid of pid $1
ppid_of() {
    read -r _st <"/proc/$1/stat" || return 1
    _st=${_st##*) }
    set -- $_st
    printf '%s' "$2"
}

# pid ppid comm argv of one process
proc() {
    _pp=$(ppid_of "$1") || return
    echo "proc $1 $_pp $2 $(xf "/proc/$1/cmdline")"
}

# The socket inodes process $1 holds, and its listening unix and tcp sockets
# (seen from its own network namespace).
sockets() {
    _p=$1
    # An fd closed between readdir and readlink is no error; being refused is.
    _err=$(ls -l "/proc/$_p/fd" 2>&1 >/dev/null | grep -v 'No such file' | head -n 1)
    if [ -n "$_err" ]; then
        echo "fds $_p err $(xs "$_err")"
        return
    fi
    _inos=" $(ls -l "/proc/$_p/fd" 2>/dev/null | sed -n 's/.*-> socket:\[\([0-9]*\)\]$/\1/p' | tr '\n' ' ')"
    echo "fds $_p ok"
    if [ -r "/proc/$_p/net/unix" ]; then
        grep ' 00010000 ' "/proc/$_p/net/unix" | while read -r _n _rc _pr _fl _ty _s _ino _path; do
            case $_inos in *" $_ino "*)
                _c=$(resolve "$_path") || _c=
                echo "listen $_p unix $_ino $(xs "$_path") $(xs "$_c")"
                ;;
            esac
        done
    fi
    for _f in tcp tcp6; do
        [ -r "/proc/$_p/net/$_f" ] || continue
        while read -r _n _local _rem _s _q1 _q2 _q3 _uid _to _ino _rest; do
            [ "$_s" = 0A ] || continue
            case $_inos in *" $_ino "*) echo "listen $_p $_f $_ino $_local" ;; esac
        done <"/proc/$_p/net/$_f"
    done
}

discover() {
    echo "self $$"
    # Our own ancestry: in the probe container it leads to the containerd-shim
    # whose -address names the containerd of the dockerd that started us.
    _a=$$
    _i=0
    while [ "$_a" -gt 1 ] && [ "$_i" -lt 20 ]; do
        _pp=$(ppid_of "$_a") || break
        echo "anc $_a $_pp $(xf "/proc/$_a/cmdline")"
        _a=$_pp
        _i=$((_i + 1))
    done

    _daemons=
    for _d in /proc/[0-9]*; do
        _pid=${_d#/proc/}
        read -r _comm 2>/dev/null <"$_d/comm" || continue
        case $_comm in
        dockerd | containerd)
            proc "$_pid" "$_comm"
            _daemons="$_daemons $_pid"
            ;;
        containerd-shim*) proc "$_pid" shim ;;
        esac
    done
    for _pid in $_daemons; do sockets "$_pid"; done

    if [ -z "$ROOT" ] && [ -r /proc/sys/kernel/hostname ]; then
        read -r _hn </proc/sys/kernel/hostname
        echo "hostname $(xs "$_hn")"
    elif [ -r "$ROOT/etc/hostname" ]; then
        echo "hostname $(xf "$ROOT/etc/hostname")"
    fi

    if _m=$(cat /proc/1/mounts 2>&1); then
        echo "mounts ok $(xf /proc/1/mounts)"
    else
        echo "mounts err $(xs "$_m")"
    fi

    # Audit rules: the loaded ones when we may ask the kernel, else the files.
    _why='auditctl not found'
    if [ -n "$ROOT" ]; then
        _why='running in the probe container'
    elif command -v auditctl >/dev/null 2>&1; then
        if _o=$(auditctl -l 2>&1); then
            echo "audit auditctl $(xs "$_o")"
            _why=
        else
            _why="auditctl -l failed: $_o"
        fi
    fi
    if [ -n "$_why" ]; then
        echo "audit files $(xs "$_why")"
        for _f in "$ROOT/etc/audit/audit.rules" "$ROOT"/etc/audit/rules.d/*.rules; do
            [ -e "$_f" ] || continue
            if [ -r "$_f" ]; then
                echo "auditfile $(xs "${_f#"$ROOT"}") ok $(xf "$_f")"
            else
                echo "auditfile $(xs "${_f#"$ROOT"}") err $(xs 'permission denied')"
            fi
        done
        if [ -e "$ROOT/etc/audit/rules.d" ] && [ ! -r "$ROOT/etc/audit/rules.d" ]; then
            echo "auditfile $(xs /etc/audit/rules.d) err $(xs 'permission denied')"
        fi
    fi

    # The docker group: its explicit members and the users whose primary group it is.
    if [ -r "$ROOT/etc/group" ]; then
        while IFS=: read -r _nm _pw _gid _mem; do
            [ "$_nm" = docker ] || continue
            echo "dgroup $(xs "$_gid") $(xs "$_mem")"
            if [ -r "$ROOT/etc/passwd" ]; then
                while IFS=: read -r _un _pw _uid _ugid _rest; do
                    [ "$_ugid" = "$_gid" ] && echo "dprimary $(xs "$_un")"
                done <"$ROOT/etc/passwd"
            fi
        done <"$ROOT/etc/group"
        echo "groupfile ok"
    else
        echo "groupfile err $(xs "cannot read /etc/group")"
    fi

    for _f in /etc/docker /etc/docker/daemon.json /etc/default/docker /etc/sysconfig/docker; do
        dostat "$_f"
    done
    for _f in /etc/docker/daemon.json /etc/default/docker /etc/sysconfig/docker; do
        [ -e "$ROOT$_f" ] && doread "$_f"
    done
    for _u in docker.service docker.socket containerd.service; do
        for _dir in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
            if [ -e "$ROOT$_dir/$_u" ] || [ -L "$ROOT$_dir/$_u" ]; then
                echo "unit $_u $(xs "$_dir/$_u")"
                dostat "$_dir/$_u"
                doread "$_dir/$_u"
                break
            fi
        done
        for _f in "$ROOT/etc/systemd/system/$_u.d"/*.conf; do
            [ -e "$_f" ] && doread "${_f#"$ROOT"}"
        done
    done

    for _b in dockerd containerd containerd-shim containerd-shim-runc-v1 containerd-shim-runc-v2 runc; do
        for _dir in /usr/bin /usr/sbin /usr/local/bin /bin /sbin; do
            if [ -e "$ROOT$_dir/$_b" ]; then
                echo "bin $_b $(xs "$_dir/$_b")"
                dostat "$_dir/$_b"
                break
            fi
        done
    done

    # Registry certificates: certs.d/<registry>/<file> (and stray files at the top).
    for _f in "$ROOT"/etc/docker/certs.d/* "$ROOT"/etc/docker/certs.d/*/*; do
        if [ -e "$_f" ] && [ ! -d "$_f" ]; then
            echo "cert $(xs "${_f#"$ROOT"}")"
            dostat "${_f#"$ROOT"}"
        fi
    done

    tokens "$@"
}

echo "v 1"
echo "root $(xs "$ROOT")"
case $MODE in
discover) discover "$@" ;;
fetch) tokens "$@" ;;
stat) for _p in "$@"; do dostat "$_p"; done ;;
*)
    echo "usage: facts.sh ROOT discover|fetch|stat [ARGS...]" >&2
    exit 2
    ;;
esac
echo end
