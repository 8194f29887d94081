//go:build !purego

#include "textflag.h"

// func sumWordsAVX2(b []byte) uint64
//
// Each 32-bit lane of Y0 gathers the low 16-bit words of its lane of the
// data, and of Y1 the high ones; the lanes are added up as 64-bit values
// at the end.
TEXT ·sumWordsAVX2(SB), NOSPLIT, $0-32
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), CX
	SHRQ $6, CX
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	VPCMPEQD Y7, Y7, Y7
	VPSRLD $16, Y7, Y7 // 0x0000ffff in every lane
	TESTQ CX, CX
	JZ done

loop:
	VMOVDQU (SI), Y2
	VMOVDQU 32(SI), Y3
	VPSRLD $16, Y2, Y4
	VPSRLD $16, Y3, Y5
	VPAND Y7, Y2, Y2
	VPAND Y7, Y3, Y3
	VPADDD Y2, Y0, Y0
	VPADDD Y4, Y1, Y1
	VPADDD Y3, Y0, Y0
	VPADDD Y5, Y1, Y1
	ADDQ $64, SI
	DECQ CX
	JNZ loop

done:
	VPMOVZXDQ X0, Y2
	VEXTRACTI128 $1, Y0, X3
	VPMOVZXDQ X3, Y3
	VPADDQ Y3, Y2, Y2
	VPMOVZXDQ X1, Y3
	VPADDQ Y3, Y2, Y2
	VEXTRACTI128 $1, Y1, X3
	VPMOVZXDQ X3, Y3
	VPADDQ Y3, Y2, Y2
	VEXTRACTI128 $1, Y2, X3
	VPADDQ X3, X2, X2
	VPSHUFD $0x4e, X2, X3
	VPADDQ X3, X2, X2
	VMOVQ X2, AX
	VZEROUPPER
	MOVQ AX, ret+24(FP)
	RET
