"""The reverse sweep's handling of single operations (a mixin of
reverse_gen.Gen): adjoints in allocas, shadow pointers, the reverse of each
planned op (reverse_analysis.Plan), and the epilogues that hand the results
back."""

from __future__ import annotations

from mlir import ir
from mlir.dialects import llvm

from cargo_mlir.pipeline.stages.autodiff import rules
from cargo_mlir.pipeline.stages.autodiff import tape as T
from cargo_mlir.pipeline.stages.autodiff.reverse_analysis import ParamSpec, fail, is_float
from cargo_mlir.pipeline.stages.autodiff.tape import (call, cfloat, cint, cond_br, gep, i32, i64, icmp, memset0,
                                                      ptr, size_of, store)

CHOOSING = {"llvm.select", "llvm.intr.minnum", "llvm.intr.maxnum", "llvm.intr.minimum", "llvm.intr.maximum",
            "llvm.intr.minimumnum", "llvm.intr.maximumnum"}


def is_choosing(op) -> bool:
    return op.operation.name in CHOOSING or rules.libm_name(op) in ("fmin", "fmax")


class RevOps:
    # -------------------------------------------------------- adjoints
    def _adj(self, v):
        if v not in self.adj:
            with ir.InsertionPoint.at_block_terminator(self.rpre), ir.Location.unknown():
                a = llvm.alloca(ptr(), cint(i32(), 1), ir.TypeAttr.get(v.type))
                store(cfloat(v.type, -0.0), a)
            self.adj[v] = a
        return self.adj[v]

    def take(self, v):
        """The adjoint of `v` (at the current insertion point), reset to zero."""
        a = self._adj(v)
        g = T.load(v.type, a)
        store(self._negzero(v.type), a)
        return g

    def acc(self, v, g) -> None:
        if not self.an.is_active(v):
            return
        a = self._adj(v)
        store(llvm.fadd(T.load(v.type, a), g), a)

    def _negzero(self, ty):
        key = ("-0", str(ty))
        if key not in self.rconsts:
            with ir.InsertionPoint.at_block_terminator(self.rpre), ir.Location.unknown():
                self.rconsts[key] = cfloat(ty, -0.0)
        return self.rconsts[key]

    def shadow_base(self, r):
        if r.kind == "param":
            return self.shadow_param[r.ref]
        op = r.ref
        if op not in self.shadow_allocas:
            size = op.operands[0]
            if isinstance(size.owner, ir.Block) or size.owner.operation.name != "llvm.mlir.constant":
                raise fail(self.d.what, "a local array of run-time size holding active floats", op)
            ip = ir.InsertionPoint.at_block_terminator(self.rpre)
            with ip, op.location:
                n = size.owner.operation.clone(ip=ip).results[0]
                sh = op.clone(ip=ip)
                sh.operands[0] = n
                elem = ir.TypeAttr(op.attributes["elem_type"]).value
                memset0(sh.results[0], size_of(elem, n))
            self.shadow_allocas[op] = (sh.results[0], elem, n)
        return self.shadow_allocas[op][0]

    def rshadow(self, o, k):
        """The shadow of pointer operand `k` of `o`, in the reverse sweep."""
        p = o.operands[k]
        base = self.shadow_base(self.an.root(p))
        if self._is_root(p):
            return base
        return gep(base, self.rval(("off", o, k)), ir.IntegerType.get_signless(8))

    # -------------------------------------------------------- the reverse of one op
    def _rev_op(self, op, plan) -> None:
        o = op.operation
        kind = plan.kind
        an = self.an
        ip = ir.InsertionPoint(self.cur)
        with ip:
            if kind == "return":
                if self.seed is not None and len(o.operands):
                    self.acc(o.operands[0], self.seed)
            elif kind == "diff":
                self._rev_diff(op, plan)
            elif kind == "cast":
                g = self.take(o.results[0])
                x = o.operands[0]
                if o.name == "llvm.fpext":
                    g = llvm.fptrunc(x.type, g)
                elif o.name == "llvm.fptrunc":
                    g = llvm.fpext(x.type, g)
                self.acc(x, g)
            elif kind == "load":
                res = o.results[0]
                g = self.take(res)
                sh = self.rshadow(o, 0)
                store(llvm.fadd(T.load(res.type, sh), g), sh)
            elif kind == "store":
                v = o.operands[0]
                sh = self.rshadow(o, 1)
                if an.is_active(v):
                    self.acc(v, T.load(v.type, sh))
                store(cfloat(v.type, 0.0) if is_float(v.type) else llvm.mlir_zero(v.type), sh)
            elif kind == "set":
                memset0(self.rshadow(o, 0), self.rval(o.operands[2]))
            elif kind == "lifetime":
                base = self.shadow_base(an.root(o.operands[0]))
                _, elem, n = self.shadow_allocas[plan.data["alloca"]]
                memset0(base, size_of(elem, n))
            elif kind == "copy":
                self._rev_copy(op, plan)
            elif kind == "call":
                self._rev_call(op, plan)

    def _rev_diff(self, op, plan) -> None:
        o = op.operation
        an = self.an
        operands = list(o.operands)
        res = o.results[0]
        g = self.take(res)
        used = plan.data["used"]
        vals = [self.rval(v) if k in used else llvm.mlir_poison(v.type) for k, v in enumerate(operands)]
        if is_choosing(op):
            pick = rules.picks_first(op, vals)
            a, b = (1, 2) if o.name == "llvm.select" else (0, 1)
            z = self._negzero(res.type)
            self.acc(operands[a], llvm.select(pick, g, z))
            self.acc(operands[b], llvm.select(pick, z, g))
            return
        needed = [an.is_active(v) for v in operands]
        ps = rules.partials(op, vals, needed)
        for k, p in enumerate(ps):
            if p is not None and needed[k]:
                self.acc(operands[k], g if rules.constant_value(p) == 1.0 else llvm.fmul(g, p))

    def _rev_copy(self, op, plan) -> None:
        o = op.operation
        dst = self.rshadow(o, 0)
        n = self.rval(o.operands[2])
        if not plan.data["src"]:
            memset0(dst, n)
            return
        src = self.rshadow(o, 1)
        elem = ir.Type.parse(plan.data["elem"])
        count = llvm.udiv(n, size_of(elem, cint(i64(), 1)))
        done = self.new_block()
        body_block = self.cur.region.blocks.append(i64())
        cond_br(icmp("eq", count, cint(i64(), 0)), done, body_block, [], [cint(i64(), 0)])
        with ir.InsertionPoint(body_block):
            i = body_block.arguments[0]
            ps, pd = gep(src, i, elem), gep(dst, i, elem)
            store(llvm.fadd(T.load(elem, ps), T.load(elem, pd)), ps)
            store(cfloat(elem, 0.0), pd)
            nxt = T.add(i, cint(i64(), 1))
            cond_br(icmp("ult", nxt, count), body_block, done, [nxt], [])
        self.cur = done

    def _rev_call(self, op, plan) -> None:
        o = op.operation
        v = plan.data["variant"]
        spec: ParamSpec = plan.data["spec"]
        operands = list(o.operands)
        args = [self.rval(x) for x in operands]
        shadows = [self.rshadow(o, k) for k in plan.ptrs]
        dret = [self.take(o.results[0])] if spec.ret_active else []
        st = self._state() if self.top else self.rstate
        self.tape_r.to_state(st)
        r = call(v.rev, args + shadows + dret + [st], v.rev_ret)
        self.tape_r.from_state(st)
        for j, k in enumerate(v.active):
            if self.an.is_active(operands[k]):
                self.acc(operands[k], llvm.extractvalue(operands[k].type, r, [j]))

    # -------------------------------------------------------- epilogues
    def _epilogue_top(self) -> None:
        d = self.d
        with ir.InsertionPoint(self.ep):
            flat = [(i, j) for i, a in enumerate(d.args) for j in range(len(a.types))]
            for role, ty in d.results():
                out = self.roles[role]
                if role == "out.ret":
                    store(self.x.arguments[0], out)
                    continue
                i = int(role[len("out.grad"):])
                p = self.params[flat.index((i, 0))]
                t = ir.Type.parse(ty)
                g = T.load(t, self._adj(p)) if self.an.is_active(p) else cfloat(t, 0.0)
                store(llvm.fadd(g, cfloat(t, 0.0)), out)
            if d.tape == "heap":
                self.tape_r.save_global(self.eng.tape_global())
            llvm.ReturnOp(arg=cint(ir.IntegerType.get_signless(8), 1))

    def _epilogue_callee(self) -> None:
        v_active = [k for k, kind in enumerate(self.spec.kinds) if kind == "active"]
        with ir.InsertionPoint(self.ep):
            self.tape_r.to_state(self.rstate)
            if not v_active:
                llvm.ReturnOp()
                return
            types = [self.params[k].type for k in v_active]
            st = ir.Type.parse("!llvm.struct<(" + ", ".join(str(t) for t in types) + ")>")
            agg = llvm.mlir_undef(st)
            for j, k in enumerate(v_active):
                p = self.params[k]
                g = T.load(p.type, self._adj(p)) if self.an.is_active(p) else cfloat(p.type, 0.0)
                agg = llvm.insertvalue(agg, g, [j])
            llvm.ReturnOp(arg=agg)
