;; bignum.lsp: a GNU Common Lisp workload with exact results (tests/gcl.sh
;; runs it with and without libgclzone and compares every "result:" line).
;; Several values are also those of examples/gmp (tests/gmp.sh).

(defun fact (n) (let ((r 1)) (dotimes (i n r) (setq r (* r (1+ i))))))
(defun fib (n) (let ((a 0) (b 1)) (dotimes (i n a) (psetq a b b (+ a b)))))
(defun digit-sum (n)
  (let ((s 0)) (map nil #'(lambda (c) (setq s (+ s (digit-char-p c)))) (princ-to-string n)) s))
(defun show (name n)
  (format t "result: ~a has ~d digits, digit sum ~d~%" name (length (princ-to-string n)) (digit-sum n)))

(show "1000!" (fact 1000))
(show "10000!" (fact 10000))
(show "7^20000 - 5^20000" (- (expt 7 20000) (expt 5 20000)))
(show "fib(20000)" (fib 20000))
(format t "result: gcd(fib(2400), fib(1800)) = fib(600): ~a~%" (= (gcd (fib 2400) (fib 1800)) (fib 600)))
(format t "result: 3^100000 mod 1000000007 = ~d~%" (mod (expt 3 100000) 1000000007))
(let ((h 0)) (dotimes (k 2000) (setq h (+ h (/ 1 (1+ k)))))
  (format t "result: H(2000) = p/q with ~d and ~d digits~%"
          (length (princ-to-string (numerator h))) (length (princ-to-string (denominator h)))))
(si::gbc t)
;; Garbage: 20 lists of 50000 squares of bignums, summed (GCL's reduce is
;; quadratic on lists: a do loop instead).
(defun sum (l) (do ((s 0 (+ s (car l))) (l l (cdr l))) ((null l) s)))
(let ((total 0) (base (expt 10 30)))
  (dotimes (r 20)
    (let ((l nil))
      (dotimes (i 50000) (push (* (+ base i r) (+ base i r)) l))
      (setq total (+ total (sum l)))))
  (format t "result: 20 lists of 50000 squares of 10^30 + i + r sum to ~d~%" total))
(si::gbc t)
(show "sum of k! for k = 1..400" (let ((s 0)) (dotimes (k 400 s) (setq s (+ s (fact (1+ k)))))))
