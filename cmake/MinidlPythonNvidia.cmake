# minidl_python_nvidia_roots(<out> <component>): folders <site-packages>/nvidia/<component> of every
# Python the machine has. PyTorch wheels ship cuDNN, cuBLAS and NCCL there (nvidia/cudnn/lib/libcudnn.so.9),
# which is all a GPU machine without a system CUDA install may have.
function(minidl_python_nvidia_roots out component)
  set(roots "")
  foreach(py python3 /usr/bin/python3)
    execute_process(COMMAND ${py} -c "import site,sys; print(';'.join(site.getsitepackages()+[site.getusersitepackages()]))"
                    OUTPUT_VARIABLE sites OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
    if(rc EQUAL 0)
      foreach(s ${sites})
        if(EXISTS "${s}/nvidia/${component}")
          list(APPEND roots "${s}/nvidia/${component}")
        endif()
      endforeach()
    endif()
  endforeach()
  file(GLOB globbed /usr/lib/python3*/*-packages/nvidia/${component} /usr/local/lib/python3*/*-packages/nvidia/${component}
                    /opt/*/.venv/lib/python3*/site-packages/nvidia/${component})
  list(APPEND roots ${globbed})
  list(REMOVE_DUPLICATES roots)
  set(${out} "${roots}" PARENT_SCOPE)
endfunction()
