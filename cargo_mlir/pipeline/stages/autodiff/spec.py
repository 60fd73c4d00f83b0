"""What a derivative is to be: the mode, the activities, and the flat
signature the support crate's `__cargo_mlir_grad_<key>` has (docs/autodiff.md
states the layout; the macro in templates/cargo-mlir/macros/src/autodiff.rs
follows the same one)."""

from __future__ import annotations

from dataclasses import dataclass

REVERSE_ARG = ("Const", "Active", "Duplicated", "DuplicatedOnly")
REVERSE_RET = ("Const", "Active", "ActiveOnly")
FORWARD_ARG = ("Const", "Dual", "DualOnly")
FORWARD_RET = ("Const", "Dual", "DualOnly")


@dataclass(frozen=True)
class Arg:
    """One primal parameter: its activity and the MLIR types of its flat
    parameters (`("f64",)`, a slice `("!llvm.ptr", "i64")`, an array, `&T` or
    raw pointer `("!llvm.ptr",)`); `elem` is the MLIR type a pointer points at
    (None for a scalar)."""
    activity: str
    types: tuple[str, ...]
    elem: str | None = None

    @property
    def shadows(self) -> bool:
        return self.activity in ("Duplicated", "DuplicatedOnly", "Dual", "DualOnly")


@dataclass(frozen=True)
class Derivative:
    mode: str                   # "forward" | "reverse"
    width: int                  # forward mode's vector width (1 in reverse mode)
    primal: str                 # the primal entry's symbol (an llvm.func in the module)
    name: str                   # the symbol to define
    args: tuple[Arg, ...]
    ret: str | None             # the primal entry's MLIR return type (None: returns nothing)
    ret_activity: str
    what: str                   # for messages: "`bar` (the derivative of `foo`, src/lib.rs:12)"
    tape: str = "heap"          # reverse mode: "heap" (a thread-local buffer reused across
                                # calls) or "stack" (fixed allocas: device code)

    def flat_params(self) -> list[tuple[str, str]]:
        """The derivative's flat parameters as (role, MLIR type), in order; roles:
        `arg<i>.<j>` (flat param j of primal param i), `shadow<i>.<w>.<j>`, `seed`,
        `out.ret`, `out.grad<i>`, `out.tangent<w>`."""
        out: list[tuple[str, str]] = []
        for i, a in enumerate(self.args):
            out += [(f"arg{i}.{j}", t) for j, t in enumerate(a.types)]
            if a.shadows:
                for w in range(self.width if self.mode == "forward" else 1):
                    out += [(f"shadow{i}.{w}.{j}", t) for j, t in enumerate(a.types)]
        if self.mode == "reverse" and self.ret_activity in ("Active", "ActiveOnly"):
            out.append(("seed", self.ret or "f64"))
        return out + [(role, "!llvm.ptr") for role, _ in self.results()]

    def results(self) -> list[tuple[str, str]]:
        """The result slots the derivative writes through its trailing pointers:
        (role, MLIR type of the value stored)."""
        res: list[tuple[str, str]] = []
        if self.mode == "reverse":
            if self.ret and self.ret_activity in ("Const", "Active"):
                res.append(("out.ret", self.ret))
            res += [(f"out.grad{i}", a.types[0]) for i, a in enumerate(self.args) if a.activity == "Active"]
        else:
            if self.ret and self.ret_activity in ("Const", "Dual"):
                res.append(("out.ret", self.ret))
            if self.ret and self.ret_activity in ("Dual", "DualOnly"):
                res += [(f"out.tangent{w}", self.ret) for w in range(self.width)]
        return res

    @property
    def flat_types(self) -> tuple[str, ...]:
        return tuple(t for _, t in self.flat_params())
