#include "textflag.h"

// func ForRead(addr unsafe.Pointer, size uintptr)
TEXT ·ForRead(SB), NOSPLIT|NOFRAME, $0-16
	MOVD addr+0(FP), R0
	MOVD size+8(FP), R1
	ADD  R0, R1, R1
loopLoad:
	PRFM (R0), PLDL1KEEP
	ADD  $64, R0
	CMP  R1, R0
	BLO  loopLoad
	RET

// func prefetchStore(addr unsafe.Pointer, size uintptr)
TEXT ·prefetchStore(SB), NOSPLIT|NOFRAME, $0-16
	MOVD addr+0(FP), R0
	MOVD size+8(FP), R1
	ADD  R0, R1, R1
loop:
	PRFM (R0), PSTL1KEEP
	ADD  $64, R0
	CMP  R1, R0
	BLO  loop
	RET
