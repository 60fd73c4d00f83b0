"""One generated function pair of reverse mode (see reverse.py for the
layout): the forward sweep into `w`, the reverse sweep into `r` (one function,
`top`, for the derivative itself).

How the reverse sweep obtains a primal value `v` it needs (`_how`):
"const" (cloned), "param" (the reverse function has the parameters too),
"avail" (derivative itself only: defined in a block that runs once and
dominates every return, so the forward value is still there), "iv" (an affine
induction variable of a counted loop, used inside that loop: start + k·step
from the loop's iteration counter k), "op" (recomputed from its operands:
integer and pointer arithmetic, cheap float arithmetic, and — derivative
itself only — loads from parameters no live op writes) when that needs at most
one taped value, else "tape".

Counted loops (header with one entry and one back edge, reverse_analysis.Cfg)
carry an i64 iteration counter as an extra header argument; each edge (or
return) leaving such loops pushes their counters, and the reverse sweep pops
them into allocas it counts down, instead of an edge id taped per iteration.
"""

from __future__ import annotations

from mlir import ir
from mlir.dialects import llvm

from cargo_mlir.pipeline.stages.autodiff import tape as T
from cargo_mlir.pipeline.stages.autodiff.reverse_analysis import (CONSTANT_OPS, SHADOW, Analysis, ParamSpec,
                                                                  successor_operands)
from cargo_mlir.pipeline.stages.autodiff.reverse_ops import RevOps, is_choosing
from cargo_mlir.pipeline.stages.autodiff.tape import Tape, br, call, cint, cond_br, i32, i64, icmp, ptr, state_type, \
    switch

_RECOMPUTE = {"llvm.add", "llvm.sub", "llvm.mul", "llvm.shl", "llvm.lshr", "llvm.ashr", "llvm.and", "llvm.or",
              "llvm.xor", "llvm.zext", "llvm.sext", "llvm.trunc", "llvm.ptrtoint", "llvm.getelementptr",
              "llvm.icmp", "llvm.select", "llvm.intr.umax", "llvm.intr.umin", "llvm.intr.smax", "llvm.intr.smin",
              "llvm.fadd", "llvm.fsub", "llvm.fmul", "llvm.fneg", "llvm.sitofp", "llvm.uitofp", "llvm.fpext",
              "llvm.fptrunc", "llvm.fcmp", "llvm.intr.fabs", "llvm.intr.copysign", "llvm.intr.fmuladd",
              "llvm.intr.fma", "llvm.freeze"}
_MAX_DEPTH = 24


def result_type(f) -> str | None:
    import re
    m = re.match(r"!llvm\.func<(.+?) \(", str(ir.TypeAttr(f.operation.attributes["function_type"]).value))
    ret = m[1] if m else "void"
    return None if ret == "void" else ret


def _defining_block(v):
    owner = v.owner
    return owner if isinstance(owner, ir.Block) else owner.operation.block


def _const_int(v) -> int | None:
    owner = v.owner
    if isinstance(owner, ir.Block) or owner.operation.name != "llvm.mlir.constant":
        return None
    attr = owner.operation.attributes["value"]
    return attr.value if isinstance(attr, ir.IntegerAttr) else None


class Gen(RevOps):
    def __init__(self, eng, func, spec: ParamSpec, w, r, top: bool):
        self.eng, self.d, self.func, self.spec, self.w, self.r, self.top = eng, eng.d, func, spec, w, r, top
        self.an = Analysis(func, spec, eng.d.what, eng.funcs)
        self.cfg = self.an.cfg
        self.fmap: dict = {}
        self.fextra: dict = {}
        self.adj: dict = {}
        self.rconsts: dict = {}
        self.shadow_allocas: dict = {}
        self.popped: dict = {}
        self.memo: dict = {}
        self.hows: dict = {}
        self.leaf_sets: dict = {}
        self.ivs: dict = {}
        self.cur = None
        self.rev_b = None
        self.params = self.an.params
        self.param_index = {p: k for k, p in enumerate(self.params)}

    def new_block(self, *types):
        return self.cur.region.blocks.append(*types)

    # -------------------------------------------------------- structure
    def run(self) -> None:
        cfg = self.cfg
        self._segments()
        wb = self.w.regions[0].blocks
        self.wpre = wb[0]
        self.fblock = {}
        for b in cfg.rpo:
            blk = cfg.blocks[b]
            extra = [i64()] if b in cfg.counted else [i32()] if b in cfg.live and cfg.multi(b) else []
            self.fblock[b] = wb.append(*[a.type for a in blk.arguments], *extra)
            for a, na in zip(blk.arguments, self.fblock[b].arguments):
                self.fmap[a] = na
            if extra:
                key = ("cnt", b) if b in cfg.counted else ("eid", b)
                self.fextra[key] = self.fblock[b].arguments[len(blk.arguments)]
        ret = result_type(self.func)
        self.ret_type = ir.Type.parse(ret) if ret else None
        self.x = wb.append(*([self.ret_type] if ret else []), *([i32()] if len(cfg.returns) > 1 else []))
        if self.top:
            self._setup_top()
        else:
            self._setup_callee()
        self._forward()
        self._reverse()

    def _setup_top(self) -> None:
        d, pre = self.d, self.wpre
        self.roles = {role: a for (role, _), a in zip(d.flat_params(), pre.arguments)}
        flat = [(i, j) for i, a in enumerate(d.args) for j in range(len(a.types))]
        self.shadow_param = {}
        for k, (i, j) in enumerate(flat):
            self.fmap[self.params[k]] = self.roles[f"arg{i}.{j}"]
            if self.spec.kinds[k] == SHADOW:
                self.shadow_param[k] = self.roles[f"shadow{i}.0.{j}"]
        self.rparam = {p: self.fmap[p] for p in self.params}
        self.seed = self.roles.get("seed")
        self.rpre = pre
        with ir.InsertionPoint(pre):
            br(self.fblock[0], [self.fmap[p] for p in self.params])
        self.tape_w = self.tape_r = Tape(self, pre, d.tape, self.eng.checked)
        if d.tape == "heap":
            self.eng.declare("realloc", "llvm.func @realloc(!llvm.ptr, i64) -> !llvm.ptr\n")
            self.tape_w.init_global(self.eng.tape_global())
        self.wstate = self.rstate = None

    def _setup_callee(self) -> None:
        n, pre = len(self.params), self.wpre
        for k, p in enumerate(self.params):
            self.fmap[p] = pre.arguments[k]
        self.wstate = pre.arguments[n]
        with ir.InsertionPoint(pre):
            br(self.fblock[0], [self.fmap[p] for p in self.params])
        self.tape_w = Tape(self, pre, self.d.tape, self.eng.checked)
        with ir.InsertionPoint.at_block_terminator(pre):
            self.tape_w.from_state(self.wstate)
        rpre = self.rpre = self.r.regions[0].blocks[0]
        self.rparam = {p: rpre.arguments[k] for k, p in enumerate(self.params)}
        self.shadow_param, at = {}, n
        for k, kind in enumerate(self.spec.kinds):
            if kind == SHADOW:
                self.shadow_param[k] = rpre.arguments[at]
                at += 1
        self.seed = rpre.arguments[at] if self.spec.ret_active else None
        self.rstate = rpre.arguments[len(rpre.arguments) - 1]
        self.rstart = self.r.regions[0].blocks.append()
        with ir.InsertionPoint(rpre):
            br(self.rstart)
        self.tape_r = Tape(self, rpre, self.d.tape, self.eng.checked)
        with ir.InsertionPoint.at_block_terminator(rpre):
            self.tape_r.from_state(self.rstate)

    def _state(self):
        """The tape-state struct handed to callees (the derivative's own: an alloca)."""
        if self.wstate is None:
            with ir.InsertionPoint.at_block_terminator(self.wpre):
                self.wstate = self.rstate = llvm.alloca(ptr(), cint(i32(), 1), ir.TypeAttr.get(state_type()))
        return self.wstate

    # -------------------------------------------------------- what the reverse sweep needs
    def _segments(self) -> None:
        """Per live block, its segments (split before each differentiated
        call) with the keys each one tapes."""
        an, cfg = self.an, self.cfg
        self.segs: dict = {}
        for b in cfg.live:
            segs, ops = [], []
            for op in an.ops[b]:
                plan = an.plans.get(op.operation)
                if plan is not None and plan.kind == "call" and ops:
                    segs.append(ops)
                    ops = []
                ops.append(op)
            segs.append(ops)
            out = []
            for s, ops in enumerate(segs):
                keys: list = []
                if s == 0 and cfg.multi(b) and b not in cfg.counted and not (self.top and cfg.once_before_exit(b)):
                    keys.append(("eid", b))
                for op in ops:
                    for need in self._needs(op):
                        for leaf in self._leaves(need, b):
                            if leaf not in keys:
                                keys.append(leaf)
                out.append((ops, keys))
            self.segs[b] = out

    def _needs(self, op) -> list:
        o = op.operation
        plan = self.an.plans.get(o)
        if plan is None:
            return []
        operands = list(o.operands)
        keys: list = []
        if plan.kind == "diff":
            if is_choosing(op):
                used = {0} if o.name == "llvm.select" else {0, 1}
            else:
                used = self.eng.used_operands(op, [self.an.is_active(v) for v in operands])
            plan.data["used"] = used
            keys += [operands[k] for k in sorted(used)]
        keys += [("off", o, k) for k in plan.ptrs if not self._is_root(operands[k])]
        if plan.kind in ("set", "copy"):
            keys.append(operands[2])
        if plan.kind == "call":
            keys += operands
        return keys

    def _is_root(self, p) -> bool:
        return p == self._root_value(self.an.root(p))

    def _root_value(self, r):
        return self.params[r.ref] if r.kind == "param" else r.ref.results[0]

    def _offset_recomputed(self, key) -> bool:
        r = self.an.root(key[1].operands[key[2]])
        return r.kind == "param" or self.top

    def _leaves(self, key, b: int, depth: int = 0) -> frozenset:
        """The taped values obtaining `key` at block `b` of the reverse sweep takes."""
        if isinstance(key, tuple):
            if key[0] == "off" and self._offset_recomputed(key):
                return self._leaves(key[1].operands[key[2]], b, depth)
            return frozenset([key])
        memo = (key, b)
        if memo not in self.leaf_sets:
            how = self._how(key, b, depth)
            if how == "tape":
                found = frozenset([key])
            elif how == "op":
                found = frozenset().union(*(self._leaves(x, b, depth + 1) for x in key.owner.operation.operands))
            else:
                found = frozenset()
            self.leaf_sets[memo] = found
        return self.leaf_sets[memo]

    def _how(self, v, b: int, depth: int = 0) -> str:
        memo = (v, b)
        if memo in self.hows:
            return self.hows[memo]
        cfg = self.cfg
        owner = v.owner
        if isinstance(owner, ir.Block):
            if v in self.param_index:
                how = "param"
            elif self.top and cfg.once_before_exit(cfg.index[owner]):
                how = "avail"
            else:
                how = "iv" if self._iv(v, b) else "tape"
        else:
            o = owner.operation
            if o.name in CONSTANT_OPS:
                how = "const"
            elif self.top and (cfg.once_before_exit(cfg.index[o.block])
                               or (o.name == "llvm.alloca" and _const_int(o.operands[0]) is not None)):
                how = "avail"                               # (static allocas are hoisted to the entry)
            elif depth < _MAX_DEPTH and self._recomputable(o):
                leaves = frozenset().union(*(self._leaves(x, b, depth + 1) for x in o.operands))
                how = "op" if len(leaves) <= 1 else "tape"
            else:
                how = "tape"
        self.hows[memo] = how
        return how

    def _recomputable(self, o) -> bool:
        if len(o.results) != 1:
            return False
        if o.name in _RECOMPUTE:
            return True
        if o.name == "llvm.load" and self.top and "volatile_" not in o.attributes \
                and str(o.attributes["ordering"]) in ("0 : i64", "#llvm.atomic_ordering<not_atomic>"):
            r = self.an.root(o.operands[0])
            return r.kind == "param" and r.ref in self.an.readonly
        return False

    def _iv(self, v, b: int) -> bool:
        """`v` is an affine induction variable of a counted loop containing `b`."""
        cfg = self.cfg
        h = cfg.index[v.owner]
        loop = cfg.counted.get(h)
        if loop is None or b not in loop.body:
            return False
        k = list(v.owner.arguments).index(v)
        start = successor_operands(cfg.terms[loop.entry[0]])[loop.entry[1]][k]
        nxt = successor_operands(cfg.terms[loop.back[0]])[loop.back[1]][k]
        if isinstance(nxt.owner, ir.Block) or self._how(start, b) not in ("const", "param", "avail"):
            return False
        o = nxt.owner.operation
        ops = list(o.operands)
        if o.name == "llvm.add" and str(v.type).startswith("i") and v in ops:
            step = _const_int(ops[1] if ops[0] == v else ops[0])
            if step is not None:
                self.ivs[v] = ("add", start, step, None)
                return True
        if o.name == "llvm.getelementptr" and ops[0] == v:
            raw = list(ir.DenseI32ArrayAttr(o.attributes["rawConstantIndices"]))
            step = raw[0] if len(raw) == 1 and raw[0] != -2147483648 else (
                _const_int(ops[1]) if len(raw) == 1 and len(ops) == 2 else None)
            if step is not None:
                self.ivs[v] = ("gep", start, step, ir.TypeAttr(o.attributes["elem_type"]).value)
                return True
        return False

    def _key_type(self, key):
        if isinstance(key, tuple):
            return i32() if key[0] == "eid" else i64()
        return key.type

    def _fwd_key(self, key):
        return self.fextra[key] if isinstance(key, tuple) else self.fmap[key]

    def slots(self) -> int:
        """The most slots one run pushes (for loop-free call trees)."""
        cfg, best, per = self.cfg, {}, {}
        for b in cfg.live:
            per[b] = sum(len(keys) for _, keys in self.segs[b]) + sum(
                self.an.plans[op.operation].data["variant"].slots for op in self.an.ops[b]
                if op.operation in self.an.plans and self.an.plans[op.operation].kind == "call")
        for b in cfg.rpo:
            if b in cfg.live:
                best[b] = per[b] + max((best[p] for p, _ in cfg.edges[b] if p in best), default=0)
        exit_ = 1 if not self.top and len(cfg.returns) > 1 else 0
        return max((best[r] for r in cfg.returns), default=0) + exit_

    # -------------------------------------------------------- forward sweep
    def _forward(self) -> None:
        cfg, an = self.cfg, self.an
        for b in cfg.rpo:
            self.cur = self.fblock[b]
            if b in cfg.live:
                for ops, keys in self.segs[b]:
                    for op in ops:
                        if op.operation != cfg.terms[b].operation:
                            self._fwd_op(op)
                    self.tape_w.push([self._fwd_key(k) for k in keys])
            else:
                for op in an.ops[b][:-1]:
                    self._fwd_op(op)
            self._fwd_term(b)
        self.cur = self.x
        if self.top:
            return
        if len(cfg.returns) > 1:
            self.tape_w.push([self.x.arguments[len(self.x.arguments) - 1]])
        with ir.InsertionPoint(self.cur):
            self.tape_w.to_state(self.wstate)
            llvm.ReturnOp(arg=self.x.arguments[0] if self.ret_type is not None else None)

    def fv(self, v):
        return self.fmap[v]

    def _fwd_op(self, op) -> None:
        o = op.operation
        plan = self.an.plans.get(o)
        if o.name == "llvm.alloca" and _const_int(o.operands[0]) is not None:
            ip = ir.InsertionPoint.at_block_terminator(self.wpre)      # a static alloca
            size = o.operands[0].owner.operation.clone(ip=ip)
            new = o.clone(ip=ip)
            new.operands[0] = size.results[0]
            self.fmap[o.results[0]] = new.results[0]
        elif plan is not None and plan.kind == "call":
            self._fwd_call(op, plan)
        else:
            new = o.clone(ip=ir.InsertionPoint(self.cur))
            for i, v in enumerate(o.operands):
                new.operands[i] = self.fv(v)
            for r, nr in zip(o.results, new.results):
                self.fmap[r] = nr
        if plan is not None:
            for k in plan.ptrs:
                key = ("off", o, k)
                if not self._is_root(o.operands[k]) and not self._offset_recomputed(key):
                    with ir.InsertionPoint(self.cur), o.location:
                        root = self.fv(self._root_value(self.an.root(o.operands[k])))
                        self.fextra[key] = T.sub(llvm.ptrtoint(i64(), self.fv(o.operands[k])),
                                                 llvm.ptrtoint(i64(), root))

    def _fwd_call(self, op, plan) -> None:
        o = op.operation
        v = self.eng.variant(plan.data["callee"], plan.data["spec"], op)
        plan.data["variant"] = v
        st = self._state()
        res = o.results[0].type if len(o.results) else None
        with ir.InsertionPoint(self.cur), o.location:
            self.tape_w.to_state(st)
            r = call(v.fwd, [self.fv(x) for x in o.operands] + [st], res)
            self.tape_w.from_state(st)
        if res is not None:
            self.fmap[o.results[0]] = r

    def _counters(self, headers: list[int]) -> list:
        return [self.fextra[("cnt", h)] for h in headers]

    def _fwd_term(self, b: int) -> None:
        cfg = self.cfg
        term = cfg.terms[b].operation
        if term.name == "llvm.return":
            self.tape_w.push(self._counters(cfg.ret_exits[b]))
            with ir.InsertionPoint(self.cur), term.location:
                args = [self.fv(v) for v in term.operands]
                if len(cfg.returns) > 1:
                    args.append(cint(i32(), cfg.returns.index(b)))
                br(self.x, args)
            return
        if term.name == "llvm.unreachable":
            with ir.InsertionPoint(self.cur), term.location:
                llvm.unreachable()
            return
        targets, args, dests, exits = cfg.succ[b], [], [], []
        here = self.cur
        with ir.InsertionPoint(here), term.location:
            for slot, (t, vals) in enumerate(zip(targets, successor_operands(term))):
                a = [self.fv(v) for v in vals]
                if t in cfg.counted:
                    a.append(cint(i64(), 0) if cfg.counted[t].entry == (b, slot)
                             else T.add(self.fextra[("cnt", t)], cint(i64(), 1)))
                elif t in cfg.live and cfg.multi(t):
                    a.append(cint(i32(), cfg.edges[t].index((b, slot))))
                leaving = cfg.exits.get((b, slot)) if b in cfg.live else None
                if leaving:                       # an edge block pushes the loops' counters
                    exits.append((self.new_block(), leaving, t, a))
                    dests.append(exits[-1][0])
                    args.append([])
                else:
                    dests.append(self.fblock[t])
                    args.append(a)
            if term.name == "llvm.br":
                br(dests[0], args[0])
            elif term.name == "llvm.cond_br":
                cond_br(self.fv(term.operands[0]), dests[0], dests[1], args[0], args[1])
            else:
                llvm.SwitchOp(self.fv(term.operands[0]), args[0], [a for x in args[1:] for a in x],
                              ir.DenseI32ArrayAttr.get([len(x) for x in args[1:]]), dests[0], dests[1:],
                              case_values=term.attributes["case_values"])
        for blk, leaving, t, a in exits:
            self.cur = blk
            self.tape_w.push(self._counters(leaving))
            with ir.InsertionPoint(self.cur), term.location:
                br(self.fblock[t], a)

    # -------------------------------------------------------- reverse sweep
    def _reverse(self) -> None:
        cfg = self.cfg
        rb = self.r.regions[0].blocks
        self.rblock = {b: rb.append() for b in cfg.rpo if b in cfg.live}
        self.ep = rb.append()
        self.rc = {}
        for h in cfg.counted:
            with ir.InsertionPoint.at_block_terminator(self.rpre), ir.Location.unknown():
                self.rc[h] = llvm.alloca(ptr(), cint(i32(), 1), ir.TypeAttr.get(i64()))
        if self.top:
            self.cur = self.x
            eid = self.x.arguments[len(self.x.arguments) - 1] if len(cfg.returns) > 1 else None
        else:
            self.cur = self.rstart
            eid = self.tape_r.pop([i32()])[0] if len(cfg.returns) > 1 else None
        if not cfg.returns:
            with ir.InsertionPoint(self.cur):
                br(self.ep)
        else:
            dests = [self._entering(r, cfg.ret_exits[r]) for r in cfg.returns]
            with ir.InsertionPoint(self.cur):
                if eid is None:
                    br(dests[0])
                else:
                    self._dispatch(eid, dests)
        for b in cfg.rpo:
            if b in cfg.live:
                self._rev_block(b)
        self.cur = self.ep
        if self.top:
            self._epilogue_top()
        else:
            self._epilogue_callee()

    def _entering(self, b: int, leaving: list[int]):
        """The block that enters the reverse of `b` after popping the counters
        of the loops the forward edge left (the reverse block itself when none)."""
        if not leaving:
            return self.rblock[b]
        self.cur = blk = self.new_block()
        self._pop_counters(leaving)
        with ir.InsertionPoint(self.cur):
            br(self.rblock[b])
        return blk

    def _pop_counters(self, leaving: list[int]) -> None:
        vals = self.tape_r.pop([i64()] * len(leaving))
        with ir.InsertionPoint(self.cur):
            for h, v in zip(leaving, vals):
                T.store(v, self.rc[h])

    def _dispatch(self, eid, dests: list) -> None:
        if len(dests) == 2:
            cond_br(icmp("eq", eid, cint(eid.type, 0)), dests[0], dests[1])
        else:
            switch(eid, dests[0], dests[1:])

    def _rev_block(self, b: int) -> None:
        cfg, an = self.cfg, self.an
        self.cur, self.rev_b = self.rblock[b], b
        for ops, keys in reversed(self.segs[b]):
            self.popped = dict(zip(keys, self.tape_r.pop([self._key_type(k) for k in keys])))
            self.memo = {}
            for op in reversed(ops):
                plan = an.plans.get(op.operation)
                if plan is not None:
                    with op.operation.location:
                        self._rev_op(op, plan)
        if b == 0:              # its arguments are the parameters: their adjoints are the result
            with ir.InsertionPoint(self.cur):
                br(self.ep)
            return
        with ir.InsertionPoint(self.cur):
            gs = [(k, self.take(a)) for k, a in enumerate(cfg.blocks[b].arguments) if an.is_active(a)]
        edges = cfg.edges[b]
        if len(edges) == 1:
            self._rev_edge(edges[0], gs)
            return
        dests = [self.new_block() for _ in edges]
        with ir.InsertionPoint(self.cur):
            if b in cfg.counted:            # first iteration: the entry edge; else count down
                loop = cfg.counted[b]
                k = T.load(i64(), self.rc[b])
                first, again = (dests[0], dests[1]) if edges[0] == loop.entry else (dests[1], dests[0])
                cond_br(icmp("eq", k, cint(i64(), 0)), first, again)
                with ir.InsertionPoint(again):
                    T.store(T.sub(k, cint(i64(), 1)), self.rc[b])
            else:
                self._dispatch(self.rval(("eid", b)), dests)
        for e, blk in zip(edges, dests):
            self.cur = blk
            self._rev_edge(e, gs)

    def _rev_edge(self, edge, gs) -> None:
        p, slot = edge
        vals = successor_operands(self.cfg.terms[p])[slot]
        with ir.InsertionPoint(self.cur):
            for k, g in gs:
                self.acc(vals[k], g)
        leaving = self.cfg.exits.get(edge)
        if leaving:
            self._pop_counters(leaving)
        with ir.InsertionPoint(self.cur):
            br(self.rblock[p])

    # -------------------------------------------------------- values in the reverse sweep
    def rval(self, key):
        """A primal value (or offset/edge key) at the current point of the
        reverse sweep, as `_how` decided (see the module docstring)."""
        if key in self.popped:
            return self.popped[key]
        if key in self.memo:
            return self.memo[key]
        if isinstance(key, tuple):
            if key[0] == "off" and self._offset_recomputed(key):
                o, k = key[1], key[2]
                root = self._root_value(self.an.root(o.operands[k]))
                val = T.sub(llvm.ptrtoint(i64(), self.rval(o.operands[k])), llvm.ptrtoint(i64(), self.rval(root)))
            else:
                assert self.top, key
                val = self.fextra[key]
            self.memo[key] = val
            return val
        how = self._how(key, self.rev_b)
        if how == "const":
            op = key.owner.operation
            if op not in self.rconsts:
                self.rconsts[op] = op.clone(ip=ir.InsertionPoint.at_block_terminator(self.rpre)).results[0]
            return self.rconsts[op]
        if how == "param":
            return self.rparam[key]
        if how == "avail":
            return self.fmap[key]
        if how == "iv":
            kind, start, step, elem = self.ivs[key]
            h = self.cfg.index[key.owner]
            n = T.mul(T.load(i64(), self.rc[h]), cint(i64(), step))
            if kind == "gep":
                val = T.gep(self.rval(start), n, elem)
            else:
                if key.type != i64():
                    n = llvm.trunc(key.type, n, llvm.IntegerOverflowFlags.none)
                val = T.add(self.rval(start), n)
        elif how == "op":
            o = key.owner.operation
            operands = [self.rval(x) for x in o.operands]
            new = o.clone(ip=ir.InsertionPoint(self.cur))
            for i, x in enumerate(operands):
                new.operands[i] = x
            for attr in ("alias_scopes", "noalias_scopes", "access_groups"):
                if attr in new.attributes:
                    del new.attributes[attr]
            val = new.results[0]
        else:
            raise AssertionError(f"value not on the tape: {key}")
        self.memo[key] = val
        return val
