#include "textflag.h"

// func lineForRead(addr unsafe.Pointer)
TEXT ·lineForRead(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ addr+0(FP), AX
	PREFETCHT0 (AX)
	RET

// func lineForWrite(addr unsafe.Pointer)
TEXT ·lineForWrite(SB), NOSPLIT|NOFRAME, $0-8
	MOVQ addr+0(FP), AX
	CMPB ·havePrefetchW(SB), $0
	JEQ  t0
	// PREFETCHW (AX), which the Go assembler does not name.
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08
	RET
t0:
	PREFETCHT0 (AX)
	RET

// func hasPrefetchW() bool
TEXT ·hasPrefetchW(SB), NOSPLIT, $0-1
	MOVL $0x80000000, AX
	CPUID
	CMPL AX, $0x80000001
	JB   no
	MOVL $0x80000001, AX
	XORL CX, CX
	CPUID
	SHRL $8, CX
	ANDL $1, CX
	MOVB CX, ret+0(FP)
	RET
no:
	MOVB $0, ret+0(FP)
	RET
