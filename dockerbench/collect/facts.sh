# dockerbench host facts. Read-only: this script never writes anything on the host.
#
# Usage: sh facts.sh ROOT MODE [ARGS...]
#   ROOT   prefix under which the host's / is visible ("" on the host itself,
#          "/host" in the probe container). /proc is never prefixed: the probe
#          shares the host's PID namespace and mounts its own /proc for it.
#   MODE   discover [TOKEN...]  the daemons (their sockets, command lines and DOCKER_*
#                               environment), mounts, audit rules, docker group,
#                               config files, /etc/environment, binaries, hostname
#          fetch TOKEN...       only the tokens
#          stat PATH...         stat plain paths (for people; Python uses fetch)
#   TOKEN  a letter and a field (as in the output): s stat the path, r read the file,
#          c resolve the symlinks of the path under ROOT, g the members of a group
#          (named, or by gid, as dockerd's --group), p the processes of every
#          container (the field is ignored).
#
# Output: one record per line, fields separated by one space; the last line is
# "end". A field that starts with "=" is the text after it, made only of the
# characters [A-Za-z0-9/._:@,+=-]; one that starts with "x" is any bytes in
# hexadecimal; other fields are tags and numbers. A record whose last field is
# "+" is followed by its data as `od -An -v -tx1` prints it: lines that start
# with a space. So any byte survives, whatever the transport.
#
# Speed: forks cost far more than anything else a shell does, so the shell
# encodes fields itself (od only for long odd strings), each file is read by
# one od, the command lines and environments of all daemons by one grep -z
# each, the fd links of all daemons by one ls, and every stat by one stat call.
# Runs under POSIX sh: dash, bash, busybox ash.

set -u
LC_ALL=C
export LC_ALL
ROOT=${1-}
MODE=${2-}
[ $# -ge 2 ] && shift 2
ROOT=${ROOT%/}

# Every byte but NUL, in order: the offset of a byte in BYTES is its value.
# A shell that counts characters rather than bytes cannot use it (BYTES is then
# empty and field() asks od).
_i=1 _fmt=
while [ "$_i" -lt 256 ]; do
    _fmt="$_fmt\\$((_i / 64))$((_i / 8 % 8))$((_i % 8))"
    _i=$((_i + 1))
done
# shellcheck disable=SC2059 # the format is made of octal escapes only
BYTES=$(printf "${_fmt}\\303\\251x")
BYTES=${BYTES%x}
if [ "${#BYTES}" -eq 257 ]; then BYTES=${BYTES%??}; else BYTES=; fi

# Encode $1 as a field into F.
field() {
    case $1 in
    *[!A-Za-z0-9/._:@,+=-]*) ;;
    *)
        F="=$1"
        return
        ;;
    esac
    if [ -z "$BYTES" ] || [ "${#1}" -gt 400 ]; then
        F=x$(printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n')
        return
    fi
    _fs=$1 F=x
    while [ -n "$_fs" ]; do
        _fr=${_fs#?}
        _fc=${_fs%"$_fr"}
        _fs=$_fr
        _fp=${BYTES%%"$_fc"*}
        _fd=$((${#_fp} + 1))
        for _fn in $((_fd / 16)) $((_fd % 16)); do
            case $_fn in 10) _fn=a ;; 11) _fn=b ;; 12) _fn=c ;; 13) _fn=d ;; 14) _fn=e ;; 15) _fn=f ;; esac
            F=$F$_fn
        done
    done
}

# Decode field $1 into V (hex needs one printf).
unfield() {
    case $1 in
    =*) V=${1#=} ;;
    x*)
        _xh=${1#x} _xo=
        while [ -n "$_xh" ]; do
            _xb=${_xh%"${_xh#??}"}
            _xh=${_xh#??}
            _xd=$((0x$_xb))
            _xo="$_xo\\$((_xd / 64))$((_xd / 8 % 8))$((_xd % 8))"
        done
        # shellcheck disable=SC2059 # the format is made of octal escapes only
        V=$(printf "${_xo}x")
        V=${V%x}
        ;;
    *) return 1 ;;
    esac
}

field 'too many levels of symbolic links'
E_LOOP=$F
field 'permission denied'
E_PERM=$F
field 'not a regular file'
E_NOTREG=$F
field 'read failed'
E_READ=$F

# The target of the symlink $ROOT$1 into L. Cached: the same links (/var/run
# above all) come up again and again, and each readlink is a fork.
LINKS=
link() {
    case $1 in
    *'|'* | *'>'*) ;;
    *)
        case $LINKS in
        *"|$1>"*)
            L=${LINKS#*"|$1>"}
            L=${L%%"|"*}
            return 0
            ;;
        esac
        ;;
    esac
    L=$(readlink "$ROOT$1" && echo x) || return 1
    L=${L%?x}
    case $1$L in *'|'* | *'>'*) ;; *) LINKS="$LINKS|$1>$L|" ;; esac
}

# Resolve every symlink of host path $1 inside ROOT (an absolute link points
# into ROOT, not into the probe's own filesystem) into R.
resolve() {
    _rt=$1 _rd='' _rn=0
    while [ -n "$_rt" ]; do
        case $_rt in
        /*)
            _rt=${_rt#/}
            continue
            ;;
        esac
        _rc=${_rt%%/*}
        if [ "$_rc" = "$_rt" ]; then _rt=; else _rt=${_rt#*/}; fi
        case $_rc in
        . | '') continue ;;
        ..)
            _rd=${_rd%/*}
            continue
            ;;
        esac
        if [ -L "$ROOT$_rd/$_rc" ]; then
            _rn=$((_rn + 1))
            [ "$_rn" -gt 40 ] && return 1
            link "$_rd/$_rc" || return 1
            case $L in /*) _rd= ;; esac
            if [ -n "$_rt" ]; then _rt=$L/$_rt; else _rt=$L; fi
        else
            _rd=$_rd/$_rc
        fi
    done
    R=${_rd:-/}
}

# uid and gid names from the host's own files, read once. Only in the probe:
# on the host itself stat asks NSS, which also knows LDAP and the like.
IDS=
load_ids() {
    [ -n "$IDS" ] && return
    IDS=1
    for _db in passwd group; do
        [ -r "$ROOT/etc/$_db" ] || continue
        while IFS=: read -r _inm _ipw _iid _irest || [ -n "$_inm" ]; do
            case $_iid in '' | *[!0-9]*) continue ;; esac
            eval "[ -n \"\${_id_${_db}_$_iid+x}\" ] || _id_${_db}_$_iid=\$_inm"
            _inm=
        done <"$ROOT/etc/$_db"
    done
}

# Name of $2 (a uid or gid that stat printed as $3) in the host's $1 into N.
idname() {
    N=
    if [ -n "$ROOT" ]; then
        load_ids
        eval "N=\${_id_$1_$2-}"
    elif [ "$3" != UNKNOWN ] && [ "$3" != "$2" ]; then
        N=$3
    fi
}

# Paths to stat, as fields, for the one stat call of flush_stats.
QUEUE=
qstat() {
    field "$1"
    case " $QUEUE " in *" $F "*) return ;; esac
    QUEUE="$QUEUE $F"
}

flush_stats() {
    _q=$QUEUE QUEUE='' _pairs=''
    set --
    for _w in $_q; do
        unfield "$_w" || continue
        if ! resolve "$V"; then
            echo "stat $_w err $E_LOOP"
        elif [ -e "$ROOT$R" ] || [ -L "$ROOT$R" ]; then
            field "$R"
            _pairs="$_pairs $_w $F"
            set -- "$@" "$ROOT$R"
        else
            # Missing, unless a directory on the way may not be searched: stat says which.
            _a=${R%/*}
            while [ -n "$_a" ] && [ ! -e "$ROOT$_a" ]; do _a=${_a%/*}; done
            if [ -d "$ROOT$_a/" ] && [ ! -x "$ROOT$_a/" ]; then
                stat1 "$_w" "$R"
            else
                echo "stat $_w missing"
            fi
        fi
    done
    [ $# -eq 0 ] && return
    _out=$(stat -c '%f:%u:%g:%U:%G' "$@" 2>/dev/null) || _out=
    _oldifs=$IFS
    set -f
    # shellcheck disable=SC2086 # fields never hold spaces
    set -- $_pairs
    IFS='
'
    _lines=0
    for _l in $_out; do _lines=$((_lines + 1)); done
    if [ "$_lines" -ne $(($# / 2)) ]; then
        _out= # one path vanished or failed: ask stat once per path, for its message
        IFS=$_oldifs
        while [ $# -gt 0 ]; do
            unfield "$2"
            stat1 "$1" "$V"
            shift 2
        done
    fi
    for _l in $_out; do
        statline "$1" "$_l" "$2"
        shift 2
    done
    IFS=$_oldifs
    set +f
}

# The stat record of path field $1 (resolved: $2) from a stat call of its own.
stat1() {
    if _o=$(stat -c '%f:%u:%g:%U:%G' "$ROOT$2" 2>&1); then
        field "$2"
        statline "$1" "$_o" "$F"
    else
        case $_o in
        *'No such file'* | *'Not a directory'*) echo "stat $1 missing" ;;
        *)
            field "$_o"
            echo "stat $1 err $F"
            ;;
        esac
    fi
}

# One stat record: $1 the path's field, $2 stat's "%f:%u:%g:%U:%G", $3 the resolved path's field.
statline() {
    _sm=${2%%:*} _sr=${2#*:}
    _su=${_sr%%:*} _sr=${_sr#*:}
    _sg=${_sr%%:*} _sr=${_sr#*:}
    idname passwd "$_su" "${_sr%%:*}"
    field "$N"
    _sun=$F
    idname group "$_sg" "${_sr#*:}"
    field "$N"
    echo "stat $1 ok $_sm $_su $_sg $_sun $F $3"
}

# Read host path $1 as a record "read FIELD ok +" and its data.
doread() {
    field "$1"
    _df=$F
    if ! resolve "$1"; then
        echo "read $_df err $E_LOOP"
    elif [ ! -e "$ROOT$R" ]; then
        echo "read $_df missing"
    elif [ ! -f "$ROOT$R" ]; then
        echo "read $_df err $E_NOTREG"
    elif [ ! -r "$ROOT$R" ]; then
        echo "read $_df err $E_PERM"
    else
        echo "read $_df ok +"
        od -An -v -tx1 "$ROOT$R" 2>/dev/null || echo "read $_df err $E_READ"
    fi
}

# Members of group $1 (a name, or a gid, matched as dockerd does): its
# explicit members and the users whose primary group it is.
group_members() {
    field "$1"
    _gq=$F
    if [ ! -r "$ROOT/etc/group" ]; then
        field "cannot read /etc/group"
        echo "group $_gq err $F"
        return
    fi
    _gid=
    while IFS=: read -r _gnm _gpw _ggid _gmem || [ -n "$_gnm" ]; do
        if [ "$_gnm" = "$1" ] || [ "$_ggid" = "$1" ]; then
            _gid=$_ggid
            break
        fi
        _gnm=
    done <"$ROOT/etc/group"
    if [ -z "$_gid" ]; then
        echo "group $_gq none"
        return
    fi
    field "$_gnm"
    _gn=$F
    field "$_gmem"
    echo "group $_gq ok $_gn $_gid $F"
    [ -r "$ROOT/etc/passwd" ] || return
    while IFS=: read -r _gun _gpw _guid _gugid _grest || [ -n "$_gun" ]; do
        if [ "$_gugid" = "$_gid" ]; then
            field "$_gun"
            echo "gprimary $_gq $F"
        fi
        _gun=
    done <"$ROOT/etc/passwd"
}

tokens() {
    for _tok in "$@"; do
        unfield "${_tok#?}" || continue
        case $_tok in
        s*) qstat "$V" ;;
        r*) doread "$V" ;;
        c*)
            if resolve "$V"; then
                field "$V"
                _ca=$F
                field "$R"
                echo "canon $_ca $F"
            fi
            ;;
        g*) group_members "$V" ;;
        p*) container_procs ;;
        esac
    done
}

# Every process whose cgroup path names a container (64 hex digits: /docker/<id>,
# docker-<id>.scope, under cgroup v1 or v2), as `docker top` lists them, with
# its status (Name, State, PPid, Uid) and command line: one grep each over all
# pids, whatever their number. The host's /etc/passwd names the uids.
container_procs() {
    set -- /proc/[0-9]*/cgroup
    [ -e "$1" ] || set --
    _pc=
    [ $# -gt 0 ] && _pc=$(grep -H -m 1 -E '[0-9a-f]{64}' "$@" 2>/dev/null)
    echo "pcgroups +"
    printf '%s' "$_pc" | od -An -v -tx1
    set --
    _oldifs=$IFS
    IFS='
'
    set -f
    for _l in $_pc; do
        _l=${_l#/proc/}
        set -- "$@" "/proc/${_l%%/*}/status"
    done
    IFS=$_oldifs
    set +f
    if [ $# -gt 0 ]; then
        echo "pstatus +"
        grep -H -s -e '^Name:' -e '^State:' -e '^PPid:' -e '^Uid:' "$@" | od -An -v -tx1
        _n=$#
        while [ "$_n" -gt 0 ]; do
            set -- "$@" "${1%/status}/cmdline"
            shift
            _n=$((_n - 1))
        done
        echo "pcmdlines +"
        grep -a -z -H -s '' "$@" | od -An -v -tx1
    fi
    if [ -r "$ROOT/etc/passwd" ]; then
        echo "passwd +"
        od -An -v -tx1 "$ROOT/etc/passwd"
    fi
}

# ppid of pid $1 into P
ppid_of() {
    read -r _st 2>/dev/null <"/proc/$1/stat" || return 1
    _st=${_st##*) }
    # shellcheck disable=SC2086 # split on purpose
    set -- $_st
    P=$2
}

# A "listen" record for line $1 of "grep -H" on /proc/<pid>/net/{unix,tcp,tcp6}
# when a daemon holds that socket (_ino_<inode> lists the holders).
listener() {
    _lf=${1%%:*}
    # shellcheck disable=SC2086 # split on purpose
    set -- ${1#*:}
    case $_lf in
    */unix)
        [ $# -ge 8 ] && [ "$4" = 00010000 ] || return
        _lino=$7
        shift 7
        _lpath=$*
        ;;
    *)
        [ $# -ge 10 ] && [ "$4" = 0A ] || return
        _lino=${10} _llocal=$2
        ;;
    esac
    case $_lino in '' | *[!0-9]*) return ;; esac
    eval "_lh=\${_ino_$_lino-}"
    [ -n "$_lh" ] || return
    if [ "${_lf##*/}" = unix ]; then
        field "$_lpath"
        _lpf=$F _lcf='='
        case $_lpath in /*) resolve "$_lpath" && field "$R" && _lcf=$F ;; esac
        for _lp in $_lh; do echo "listen $_lp unix $_lino $_lpf $_lcf"; done
    else
        for _lp in $_lh; do echo "listen $_lp ${_lf##*/} $_lino $_llocal"; done
    fi
}

# The sockets the daemons $@ hold, and those of them that listen (as each
# daemon's own network namespace shows them).
sockets() {
    _ok=
    for _p in "$@"; do
        # Anyone may list /proc/<pid>/fd; following its links takes ptrace access.
        # (A daemon that exits meanwhile lists nothing, or links that vanish: no error.)
        _st=ok
        for _l in "/proc/$_p/fd/"*; do
            [ -e "$_l" ] && break
            if [ -L "$_l" ]; then
                _st=err
                break
            fi
        done
        if [ "$_st" = ok ]; then
            echo "fds $_p ok"
            _ok="$_ok $_p"
        else
            field "cannot follow the links in /proc/$_p/fd (permission denied)"
            echo "fds $_p err $F"
        fi
    done
    [ -n "$_ok" ] || return
    set --
    for _p in $_ok; do set -- "$@" "/proc/$_p/fd"; done
    # ls names each directory before its entries when it lists more than one.
    _cur=${_ok# }
    _cur=${_cur%% *}
    # ls, not find: busybox's find has no -printf, and these names are /proc's own (digits).
    # shellcheck disable=SC2012
    _links=$(ls -l "$@" 2>/dev/null |
        sed -n -e 's|^/proc/\([0-9]*\)/fd:$|p\1|p' -e 's/.*-> socket:\[\([0-9]*\)\]$/\1/p')
    for _w in $_links; do
        case $_w in
        p*) _cur=${_w#p} ;;
        *) eval "_ino_$_w=\"\${_ino_$_w-} \$_cur\"" ;;
        esac
    done
    # Daemons in one network namespace see the same tables: read them once.
    _seen=
    for _p in $_ok; do
        _same=
        for _s in $_seen; do
            # -ef is not POSIX, but busybox, dash and bash all have it; a shell without it says "false", and
            # the tables are then read once more (the same answer, a little slower).
            # shellcheck disable=SC3013
            if [ "/proc/$_p/ns/net" -ef "/proc/$_s/ns/net" ] 2>/dev/null; then
                _same=1
                break
            fi
        done
        [ -n "$_same" ] && continue
        _seen="$_seen $_p"
        # grep, not read: bash reads byte by byte, and each read of a /proc table
        # makes the kernel print it again.
        _n=/proc/$_p/net
        _t=$(grep -H -e ' 00010000 ' -e ' 0A ' "$_n/unix" "$_n/tcp" "$_n/tcp6" 2>/dev/null)
        _oldifs=$IFS
        IFS='
'
        set -f
        for _l in $_t; do
            IFS=$_oldifs
            listener "$_l"
        done
        IFS=$_oldifs
        set +f
    done
}

discover() {
    tokens "$@"
    echo "self $$"
    # Our own ancestry: in the probe container it leads to the containerd-shim
    # whose -address names the containerd of the dockerd that started us.
    _cmd='' _a=$$ _i=0
    while [ "$_a" -gt 1 ] && [ "$_i" -lt 20 ]; do
        ppid_of "$_a" || break
        echo "anc $_a $P"
        # Our own command line is this script: no need to read it.
        [ "$_a" != $$ ] && _cmd="$_cmd $_a"
        _a=$P
        _i=$((_i + 1))
    done

    _daemons='' _dockerds=''
    for _d in /proc/[0-9]*; do
        read -r _comm 2>/dev/null <"$_d/comm" || continue
        case $_comm in
        dockerd | containerd)
            _pid=${_d#/proc/}
            ppid_of "$_pid" || continue
            echo "proc $_pid $P $_comm"
            _daemons="$_daemons $_pid"
            _cmd="$_cmd $_pid"
            [ "$_comm" = dockerd ] && _dockerds="$_dockerds $_pid"
            ;;
        esac
    done
    # All command lines in one grep: -z makes every argument a record "/proc/<pid>/cmdline:ARG".
    set --
    for _p in $_cmd; do set -- "$@" "/proc/$_p/cmdline"; done
    if [ $# -gt 0 ]; then
        echo "cmdlines +"
        grep -a -z -H -s '' "$@" | od -An -v -tx1
    fi
    # dockerd's DOCKER_* environment (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, ...), nothing else.
    set --
    for _p in $_dockerds; do
        if true 2>/dev/null <"/proc/$_p/environ"; then
            echo "env $_p ok"
            set -- "$@" "/proc/$_p/environ"
        else
            echo "env $_p err $E_PERM"
        fi
    done
    if [ $# -gt 0 ]; then
        echo "environs +"
        grep -a -z -H -s '^DOCKER_' "$@" | od -An -v -tx1
    fi
    # shellcheck disable=SC2086 # pids
    sockets $_daemons

    if [ -z "$ROOT" ] && [ -r /proc/sys/kernel/hostname ]; then
        read -r _hn </proc/sys/kernel/hostname
        field "$_hn"
        echo "hostname $F"
    elif [ -r "$ROOT/etc/hostname" ]; then
        read -r _hn <"$ROOT/etc/hostname" || :
        field "$_hn"
        echo "hostname $F"
    fi

    if true 2>/dev/null </proc/1/mounts; then
        echo "mounts ok +"
        od -An -v -tx1 /proc/1/mounts
    else
        field "cannot read /proc/1/mounts"
        echo "mounts err $F"
    fi

    # Audit rules: the loaded ones when we may ask the kernel, else the files.
    _why='auditctl not found'
    if [ -n "$ROOT" ]; then
        _why='running in the probe container'
    elif command -v auditctl >/dev/null 2>&1; then
        if _o=$(auditctl -l 2>&1); then
            echo "audit auditctl +"
            printf '%s' "$_o" | od -An -v -tx1
            _why=
        else
            _why="auditctl -l failed: $_o"
        fi
    fi
    if [ -n "$_why" ]; then
        field "$_why"
        echo "audit files $F"
        for _f in "$ROOT/etc/audit/audit.rules" "$ROOT"/etc/audit/rules.d/*.rules; do
            [ -e "$_f" ] || continue
            field "${_f#"$ROOT"}"
            if [ -r "$_f" ]; then
                echo "auditfile $F ok +"
                od -An -v -tx1 "$_f"
            else
                echo "auditfile $F err $E_PERM"
            fi
        done
        if [ -e "$ROOT/etc/audit/rules.d" ] && [ ! -r "$ROOT/etc/audit/rules.d" ]; then
            echo "auditfile =/etc/audit/rules.d err $E_PERM"
        fi
    fi

    group_members docker

    # /etc/environment: what every login shell gets (pam_env). Only its DOCKER_*
    # lines leave the host: the rest may hold anything, proxies with passwords too.
    if [ ! -e "$ROOT/etc/environment" ]; then
        echo "envfile missing"
    elif [ ! -r "$ROOT/etc/environment" ] || ! true 2>/dev/null <"$ROOT/etc/environment"; then
        echo "envfile err $E_PERM"
    else
        _env=
        while IFS= read -r _l || [ -n "$_l" ]; do
            case $_l in *DOCKER_*) _env="$_env$_l
" ;;
            esac
            _l=
        done <"$ROOT/etc/environment"
        field "$_env"
        echo "envfile ok $F"
    fi

    for _f in /etc/docker /etc/docker/daemon.json /etc/default/docker /etc/sysconfig/docker /run/containerd; do
        qstat "$_f"
    done
    for _f in /etc/docker/daemon.json /etc/default/docker /etc/sysconfig/docker; do
        doread "$_f"
    done
    for _u in docker.service docker.socket containerd.service; do
        for _dir in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
            if [ -e "$ROOT$_dir/$_u" ] || [ -L "$ROOT$_dir/$_u" ]; then
                field "$_dir/$_u"
                echo "unit $_u $F"
                qstat "$_dir/$_u"
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
                field "$_dir/$_b"
                echo "bin $_b $F"
                qstat "$_dir/$_b"
                break
            fi
        done
    done

    # Registry certificates: certs.d/<registry>/<file> (and stray files at the top).
    for _f in "$ROOT"/etc/docker/certs.d/* "$ROOT"/etc/docker/certs.d/*/*; do
        if [ -e "$_f" ] && [ ! -d "$_f" ]; then
            field "${_f#"$ROOT"}"
            echo "cert $F"
            qstat "${_f#"$ROOT"}"
        fi
    done
}

echo "v 2"
field "$ROOT"
echo "root $F"
case $MODE in
discover) discover "$@" ;;
fetch) tokens "$@" ;;
stat) for _p in "$@"; do qstat "$_p"; done ;;
*)
    echo "usage: facts.sh ROOT discover|fetch|stat [ARGS...]" >&2
    exit 2
    ;;
esac
flush_stats
echo end
